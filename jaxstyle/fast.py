r"""Real-time style transfer with a trained feed-forward network (Johnson et al. 2016).

  python -m jaxstyle.fast --model=models/starry_night.msgpack --content=photo.jpg \
      --output=out.jpg
  python -m jaxstyle.fast --model=models/the_scream.msgpack --content=photos/ \
      --output=styled/                                  # every image of a directory

Python:

  model = jaxstyle.fast.load_model("models/starry_night.msgpack")
  out = jaxstyle.fast.stylize_fast(model, images)       # [N, H, W, 3] or [H, W, 3] in [0, 1]

One forward pass per image, jitted once per image size. A directory is processed in
one run: a file that cannot be read is reported and skipped, and a summary (images
done, failed, ms per image) ends the run.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags, logging

from jaxstyle import images as images_lib
from jaxstyle import transformer
from jaxstyle import _cli
from jaxstyle.errors import UserError
from jaxstyle.transformer import FastModel, load_model

__all__ = ["FastModel", "load_model", "stylize_fast", "stylize_files", "FilesReport"]

FLAGS = flags.FLAGS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@functools.lru_cache(maxsize=None)
def _forward(config: transformer.TransformerConfig):
  """The jitted network for one config (XLA caches one program per input shape)."""
  return jax.jit(lambda variables, x: transformer.apply(config, variables, x)[0])


def stylize_fast(model: FastModel, images: np.ndarray | jax.Array) -> np.ndarray:
  """Stylizes RGB images in [0, 1]: [N, H, W, 3] -> [N, H, W, 3], or [H, W, 3] -> same."""
  x = jnp.asarray(images, jnp.float32)
  single = x.ndim == 3
  if single:
    x = x[None]
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images must be RGB [N, H, W, 3] or [H, W, 3], got {tuple(x.shape)}")
  out = np.asarray(_forward(model.config)(model.variables, x))
  return out[0] if single else out


@dataclasses.dataclass
class FilesReport:
  """What `stylize_files` did: written outputs, failures (path, reason), timings."""

  written: list[pathlib.Path]
  failed: list[tuple[pathlib.Path, str]]
  ms: list[float]             # per image, network only, excluding each size's first call
  first_call_ms: list[float]  # first call at each new size (includes compilation)


def list_inputs(path: str | pathlib.Path) -> list[pathlib.Path]:
  """The image files of a directory (not recursive, sorted) or a glob, or [path]."""
  files = images_lib.list_images(path)
  if len(files) == 1 and not files[0].exists():
    raise UserError(f"{files[0]}: no such file or directory")
  return files


def stylize_files(model: FastModel, inputs: Sequence[pathlib.Path],
                  outputs: Sequence[pathlib.Path], *, image_size: int | None = None
                  ) -> FilesReport:
  """Stylizes each input file into the matching output; bad inputs are skipped."""
  report = FilesReport([], [], [], [])
  seen_shapes = set()
  for src, dst in zip(inputs, outputs):
    try:
      image = images_lib.load_image(src, image_size)
    except UserError as e:
      logging.warning("skipping %s", e)
      report.failed.append((pathlib.Path(src), str(e)))
      continue
    t0 = time.perf_counter()
    out = stylize_fast(model, image)
    ms = (time.perf_counter() - t0) * 1000
    (report.ms if image.shape in seen_shapes else report.first_call_ms).append(ms)
    seen_shapes.add(image.shape)
    report.written.append(images_lib.save_image(out, dst))
    logging.info("%s -> %s (%dx%d px, %.0f ms)", src, dst, image.shape[1], image.shape[0], ms)
  return report


def _define_flags():
  if "model" in FLAGS:
    return
  flags.DEFINE_string("model", None, "Model file from `python -m jaxstyle.train_fast`.")
  flags.DEFINE_string("content", None, "An image, or a directory of images.")
  flags.DEFINE_string("output", None, "Output image (for one --content image) or directory "
                      "(for a directory: OUTPUT/NAME.EXT per input).")
  flags.DEFINE_string("ext", ".jpg", "Extension of the outputs in a directory run.")
  flags.DEFINE_integer("image_size", None, "Resize so the longer side is this many px "
                       "(default: the input's size).", lower_bound=16)


def _run() -> None:
  if not FLAGS.model or not FLAGS.content or not FLAGS.output:
    raise UserError("give --model, --content and --output")
  model = load_model(FLAGS.model)
  content = pathlib.Path(FLAGS.content)
  inputs = list_inputs(content)
  if content.is_dir():
    out_dir = pathlib.Path(FLAGS.output)
    if out_dir.exists() and not out_dir.is_dir():
      raise UserError(f"--output {out_dir} must be a directory when --content is one")
    ext = FLAGS.ext if FLAGS.ext.startswith(".") else "." + FLAGS.ext
    outputs = [out_dir / (p.stem + ext) for p in inputs]
  else:
    outputs = [pathlib.Path(FLAGS.output)]
  for o in outputs:
    if o.suffix.lower() not in IMAGE_SUFFIXES:
      raise UserError(f"--output {o} must end in one of {', '.join(IMAGE_SUFFIXES)}")
  logging.info("model %s (%s norm, %s upsampling, %d parameters) on %s", FLAGS.model,
               model.config.norm, model.config.upsample,
               transformer.count_params(model.variables), jax.devices()[0].device_kind)
  report = stylize_files(model, inputs, outputs, image_size=FLAGS.image_size)
  if report.ms:
    timing = (f"{np.median(report.ms):.0f} ms per image (median of {len(report.ms)}, after "
              f"compilation; the first at each size took {np.median(report.first_call_ms):.0f}"
              " ms with compilation)")
  else:
    timing = (f"{np.median(report.first_call_ms):.0f} ms per image including compilation "
              "(the first call at each size compiles; images of equal size reuse it)"
              if report.first_call_ms else "no image")
  print(f"{len(report.written)} stylized, {len(report.failed)} failed; {timing}")
  for path, reason in report.failed:
    print(f"  failed: {reason}")
  if not report.written:
    raise UserError("no image could be stylized")


main, run = _cli.entry_point(_define_flags, _run)


if __name__ == "__main__":
  run()
