"""Real-time style transfer with a trained feed-forward network (Johnson et al. 2016).

  model = jaxstyle.johnson.load_model("models/starry_night.msgpack")
  out = jaxstyle.johnson.stylize_fast(model, images)   # [N, H, W, 3] or [H, W, 3] in [0, 1]

One forward pass per image, jitted once per image size. `stylize_files` processes a
list of files: a file that cannot be read is reported and skipped. The command is
`jaxstyle-fast` (jaxstyle/cli/feedforward.py).
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
from absl import logging

from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle.errors import UserError
from jaxstyle.johnson import models
from jaxstyle.johnson.models import FastModel, load_model
from jaxstyle.nets.johnson import ImageTransformConfig

__all__ = ["FastModel", "load_model", "stylize_fast", "stylize_files", "FilesReport"]


@functools.lru_cache(maxsize=None)
def _forward(config: ImageTransformConfig, kernels: str, precision: str):
  """The jitted network for one config (XLA caches one program per input shape)."""
  return jax.jit(lambda variables, x: models.apply(config, variables, x, kernels=kernels,
                                                   precision=precision)[0])


def stylize_fast(model: FastModel, images: np.ndarray | jax.Array, *, kernels: str = "auto",
                 precision: str = "float32") -> np.ndarray:
  """Stylizes RGB images in [0, 1]: [N, H, W, 3] -> [N, H, W, 3], or [H, W, 3] -> same.

  kernels, precision: see `jaxstyle.kernels`, `jaxstyle.precision`.
  """
  x = jnp.asarray(images, jnp.float32)
  single = x.ndim == 3
  if single:
    x = x[None]
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images must be RGB [N, H, W, 3] or [H, W, 3], got {tuple(x.shape)}")
  forward = _forward(model.config, kernels_lib.resolve(kernels), precision)
  out = np.asarray(forward(model.variables, x))
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
                  outputs: Sequence[pathlib.Path], *, image_size: int | None = None,
                  kernels: str = "auto", precision: str = "float32") -> FilesReport:
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
    out = stylize_fast(model, image, kernels=kernels, precision=precision)
    ms = (time.perf_counter() - t0) * 1000
    (report.ms if image.shape in seen_shapes else report.first_call_ms).append(ms)
    seen_shapes.add(image.shape)
    report.written.append(images_lib.save_image(out, dst))
    logging.info("%s -> %s (%dx%d px, %.0f ms)", src, dst, image.shape[1], image.shape[0], ms)
  return report
