"""Real-time style transfer with a trained feed-forward network (Johnson et al. 2016).

  model = jaxstyle.johnson.load_model("models/starry_night.msgpack")
  out = jaxstyle.johnson.stylize_fast(model, images)   # [N, H, W, 3] or [H, W, 3] in [0, 1]

One forward pass per image, jitted once per image size. `stylize_files` processes a
list of files: a file that cannot be read is reported and skipped. The command is
`jaxstyle-fast` (jaxstyle/cli/fast.py).
"""

from __future__ import annotations

import functools
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import file_batch
from jaxstyle import kernels as kernels_lib
from jaxstyle.file_batch import FilesReport
from jaxstyle.johnson import models
from jaxstyle.johnson.models import FastModel, load_model
from jaxstyle.nets.johnson import ImageTransformConfig

__all__ = ["FastModel", "load_model", "stylize_fast", "stylize_files"]


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


def stylize_files(model: FastModel, inputs: Sequence[pathlib.Path],
                  outputs: Sequence[pathlib.Path], *, image_size: int | None = None,
                  kernels: str = "auto", precision: str = "float32") -> FilesReport:
  """Stylizes each input file into the matching output; bad inputs are skipped
  (`file_batch.stylize_files`)."""
  return file_batch.stylize_files(
      inputs, outputs, lambda image: stylize_fast(model, image, kernels=kernels,
                                                  precision=precision),
      image_size=image_size)
