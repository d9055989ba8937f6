"""Named VGG-19 features of RGB images: the library's one path to the network.

`feature_fn` preprocesses images for the weights' origin and applies `VGG19` with the
chosen kernels and precision; `network_variables` is what it takes. The Gatys
objective, Johnson's training loss, the normalization of the network and
`extract_features` all go through these two.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import precision as precision_lib
from jaxstyle import weights as weights_lib
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets.vgg import POOLING_MODES, VGG19, check_layers

FeatureFn = Callable[[Any, jax.Array, Sequence[str]], dict[str, jax.Array]]


def vgg19(widths: Sequence[int], pooling: str = "max", *, kernels: str = "auto",
          precision: str = "float32") -> VGG19:
  """The `VGG19` module with the kernels `kernels` resolves to (see jaxstyle.kernels)."""
  if pooling not in POOLING_MODES:
    raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
  precision_lib.check(precision)
  plug = vgg_cpu.MODULES if kernels_lib.resolve(kernels) == "cpu" else {}
  return VGG19(widths=tuple(widths), pooling=pooling, precision=precision, **plug)


@functools.lru_cache(maxsize=64)
def feature_fn(widths: tuple[int, ...], preprocessing: str, pooling: str = "max", *,
               kernels: str = "auto", precision: str = "float32") -> FeatureFn:
  """`features(variables, images [N, H, W, 3] in [0, 1], layers) -> {layer: [N, h, w, c]}`.

  Pure (jit, grad and vmap it); the same settings give the same function.
  """
  model = vgg19(widths, pooling, kernels=kernels, precision=precision)

  def features(variables: Any, images: jax.Array, layers: Sequence[str]):
    x = images_lib.preprocess(images, preprocessing)
    return model.apply(variables, x, tuple(layers))

  return features


_VARIABLES: dict[tuple[int, str], tuple[weakref.ref, dict]] = {}


def network_variables(weights: weights_lib.VGGWeights, kernels: str = "auto") -> dict:
  """The variables `feature_fn(..., kernels=kernels)` takes, on the default device.

  With the CPU kernels they include kernels derived from the weights
  (`kernels.vgg_cpu.derive_variables`); made once per weights object and kernels.
  """
  resolved = kernels_lib.resolve(kernels)
  key = (id(weights), resolved)
  cached = _VARIABLES.get(key)
  if cached is not None and cached[0]() is weights:
    return cached[1]
  params = {k: {n: jnp.asarray(a) for n, a in v.items()} for k, v in weights.params.items()}
  variables = vgg_cpu.derive_variables(params) if resolved == "cpu" else {"params": params}
  for k in [k for k, (ref, _) in _VARIABLES.items() if ref() is None]:
    del _VARIABLES[k]
  _VARIABLES[key] = (weakref.ref(weights), variables)
  return variables


def _check_images(images: jax.Array) -> jax.Array:
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be RGB NHWC [N, H, W, 3], got shape {tuple(images.shape)}")
  return images


def extract_features(images: jax.Array, layers: Sequence[str], *,
                     weights: weights_lib.VGGWeights | None = None,
                     pooling: str = "max", kernels: str = "auto",
                     precision: str = "float32") -> dict[str, jax.Array]:
  """Returns {layer: features [N, h, w, c]} for float32 RGB images [N, H, W, 3] in [0, 1].

  Args:
    images: float32 RGB in [0, 1], NHWC.
    layers: paper names, e.g. ("conv4_2", "relu1_1", "pool2"); only the network up
      to the deepest one is computed.
    weights: VGGWeights; None loads the default file (see `jaxstyle.weights`).
    pooling: "max" or "avg".
    kernels: "auto", "xla" or "cpu" (see `jaxstyle.kernels`).
    precision: the convolutions' precision (see `jaxstyle.precision`).
  """
  layers = check_layers(layers)
  images = _check_images(jnp.asarray(images, jnp.float32))
  if weights is None:
    weights = weights_lib.load_default()
  fn = feature_fn(weights.widths, weights.preprocessing, pooling, kernels=kernels,
                  precision=precision)
  return fn(network_variables(weights, kernels), images, layers)
