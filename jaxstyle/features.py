"""Named VGG-19 features of RGB images: the library's one entry to the network."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxstyle import images as images_lib
from jaxstyle import weights as weights_lib
from jaxstyle.vgg import POOLING_MODES, VGG19, check_layers


def _check_images(images: jax.Array) -> jax.Array:
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be RGB NHWC [N, H, W, 3], got shape {tuple(images.shape)}")
  return images


def extract_features(images: jax.Array, layers: Sequence[str], *,
                     weights: weights_lib.VGGWeights | None = None,
                     pooling: str = "max",
                     precision: jax.lax.Precision | None = None) -> dict[str, jax.Array]:
  """Returns {layer: features [N, h, w, c]} for float32 RGB images [N, H, W, 3] in [0, 1].

  Args:
    images: float32 RGB in [0, 1], NHWC.
    layers: paper names, e.g. ("conv4_2", "relu1_1", "pool2"); only the network up
      to the deepest one is computed.
    weights: VGGWeights; None loads the default file (see `jaxstyle.weights`).
    pooling: "max" or "avg".
    precision: XLA precision of the convolutions (None: the backend's default).
  """
  layers = check_layers(layers)
  if pooling not in POOLING_MODES:
    raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
  images = _check_images(jnp.asarray(images, jnp.float32))
  if weights is None:
    weights = weights_lib.load_default()
  model = VGG19(widths=weights.widths, pooling=pooling, precision=precision)
  x = images_lib.preprocess(images, weights.preprocessing)
  return model.apply(weights.flax_params, x, layers)
