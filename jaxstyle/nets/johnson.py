"""The feed-forward image transformation network of Johnson, Alahi & Fei-Fei (ECCV 2016).

  9x9 conv (stride 1) -> 3x3 conv (stride 2) -> 3x3 conv (stride 2)
  -> 5 residual blocks -> 2x (upsample + 3x3 conv) -> 9x9 conv -> scaled tanh

with reflection padding everywhere. Departures from the paper, as in most later
implementations: instance normalization (Ulyanov et al. 2016) instead of batch norm by
default, and upsampling by nearest-neighbour interpolation followed by a convolution
(Odena et al. 2016) instead of fractionally-strided (transposed) convolutions, which
leave checkerboard artifacts; both originals are options (`norm="batch"`,
`upsample="transpose"`) for the experiments that show the difference.

Images are float32 RGB in [0, 1], NHWC, in and out; any height and width (odd ones
too): the input is padded by reflection to a multiple of 4 and the output cropped back.

The module says what it computes with plain XLA operations (`ReflectConv`);
`kernels.johnson_cpu.ReflectConv` plugs in the forms XLA:CPU runs faster (`conv=`).
Model files: `jaxstyle.johnson.models`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import precision as precision_lib
from jaxstyle.checks import one_of

ModuleDef = Any
NORMS = ("instance", "batch")
UPSAMPLES = ("nearest", "transpose")
_EPS = 1e-5
OUTPUT_SCALE = 150.0 / 255.0  # Johnson et al.'s output: 150 tanh(x) on a 0-255 scale.
# Where 0.5 + OUTPUT_SCALE tanh(z) reaches 0 and 1: beyond, z only drives saturation.
LOGIT_LIMIT = float(np.arctanh(0.5 / OUTPUT_SCALE))


@dataclasses.dataclass(frozen=True)
class ImageTransformConfig:
  """The network's shape.

  Attributes:
    widths: channels after the first, second and third convolution (Johnson: 32, 64,
      128; the residual blocks have widths[2]).
    num_residual: residual blocks (Johnson: 5).
    norm: "instance" (default) or "batch" (the paper).
    upsample: "nearest" (nearest-neighbour 2x, then a 3x3 conv; default) or
      "transpose" (a 3x3 stride-2 transposed conv, the paper's).
  """

  widths: tuple[int, int, int] = (32, 64, 128)
  num_residual: int = 5
  norm: str = "instance"
  upsample: str = "nearest"

  def __post_init__(self):
    object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
    if len(self.widths) != 3 or min(self.widths) <= 0:
      raise ValueError(f"widths must be three positive channel counts, got {self.widths}")
    if self.num_residual < 0:
      raise ValueError(f"num_residual must be non-negative, got {self.num_residual}")
    one_of("norm", self.norm, NORMS)
    one_of("upsample", self.upsample, UPSAMPLES)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "ImageTransformConfig":
    return cls(**json.loads(text))


def instance_norm(x: jax.Array, eps: float = _EPS) -> jax.Array:
  """Normalizes each image's each channel over its positions: [N, H, W, C] -> same."""
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """Pads H and W of [N, H, W, C] by `pad` on each side, mirroring without the edge."""
  if pad == 0:
    return x
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def upsample_nearest(x: jax.Array) -> jax.Array:
  """2x nearest-neighbour upsampling of [N, H, W, C]."""
  n, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
  return x.reshape(n, 2 * h, 2 * w, c)


class ConvParams(nn.Module):
  """A convolution's kernel [k, k, cin, cout] and bias (flax.linen.Conv's names, so
  model files keep their layout); the caller chooses how to convolve."""

  features: int
  kernel: int

  @nn.compact
  def __call__(self, cin: int):
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (self.kernel, self.kernel, cin, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return kernel, bias


class ReflectConv(nn.Module):
  """Reflection padding by kernel // 2, then a VALID convolution (plain XLA).

  upsampled: the input is first upsampled 2x (nearest). The CPU form with the same
  params is `kernels.johnson_cpu.ReflectConv`.
  """

  features: int
  kernel: int
  stride: int = 1
  upsampled: bool = False
  precision: str = "float32"

  @nn.compact
  def __call__(self, x):
    kernel, bias = ConvParams(self.features, self.kernel, name="conv")(x.shape[-1])
    return reflect_conv(x, kernel, stride=self.stride, upsampled=self.upsampled,
                        precision=self.precision) + bias


def reflect_conv(x: jax.Array, kernel: jax.Array, *, stride: int = 1, upsampled: bool = False,
                 precision: str = "float32") -> jax.Array:
  """`ReflectConv` without its bias: [optional nearest 2x upsampling,] reflection
  padding by k // 2, a VALID k x k convolution with `stride`."""
  if upsampled:
    x = upsample_nearest(x)
  x = reflect_pad(x, kernel.shape[0] // 2)
  return precision_lib.conv(x, kernel, precision, strides=(stride, stride), padding="VALID")


class _Norm(nn.Module):
  """Instance norm (per image and channel) or batch norm, each with a learned affine."""

  kind: str

  @nn.compact
  def __call__(self, x, train: bool):
    if self.kind == "batch":
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=_EPS,
                          name="bn")(x)
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    return instance_norm(x) * scale + bias


class _Residual(nn.Module):
  """conv-norm-relu-conv-norm plus the identity (He et al. 2016, as Johnson's Fig. 1)."""

  features: int
  norm: str
  conv: ModuleDef = ReflectConv
  precision: str = "float32"

  @nn.compact
  def __call__(self, x, train: bool):
    conv = lambda name: self.conv(self.features, 3, precision=self.precision, name=name)
    y = nn.relu(_Norm(self.norm, name="norm1")(conv("conv1")(x), train))
    y = _Norm(self.norm, name="norm2")(conv("conv2")(y), train)
    return x + y


class ImageTransformNet(nn.Module):
  """Johnson et al.'s image transformation network: [N, H, W, 3] in [0, 1] -> same
  (in training the output may overshoot [0, 1] slightly; otherwise it is clipped).

  Attributes:
    config: the network's shape.
    conv: the reflection-padded convolution module (`ReflectConv`, or a plug-in from
      jaxstyle.kernels with the same params).
    precision: the convolutions' precision (`jaxstyle.precision`).
  """

  config: ImageTransformConfig = ImageTransformConfig()
  conv: ModuleDef = ReflectConv
  precision: str = "float32"

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False, logits: bool = False):
    """Images [N, H, W, 3]; with `logits`, also the values fed to the tanh."""
    cfg = self.config
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"images must be RGB NHWC [N, H, W, 3], got shape {images.shape}")
    n, h, w, _ = images.shape
    # Any size: pad to a multiple of 4 (two stride-2 convolutions), crop at the end.
    # Edge padding when the image is too small to mirror, reflection otherwise.
    ph, pw = -h % 4, -w % 4
    mode = "reflect" if min(h, w) > 1 else "edge"
    x = jnp.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    x = x - 0.5  # Centre the input; the paper's network saw mean-subtracted pixels.

    w1, w2, w3 = cfg.widths
    for i, (features, kernel, stride) in enumerate(((w1, 9, 1), (w2, 3, 2), (w3, 3, 2))):
      x = self.conv(features, kernel, stride, precision=self.precision, name=f"down{i + 1}")(x)
      x = nn.relu(_Norm(cfg.norm, name=f"down{i + 1}_norm")(x, train))
    for i in range(cfg.num_residual):
      x = _Residual(w3, cfg.norm, self.conv, self.precision, name=f"res{i + 1}")(x, train)
    for i, features in enumerate((w2, w1)):
      if cfg.upsample == "nearest":
        x = self.conv(features, 3, upsampled=True, precision=self.precision,
                      name=f"up{i + 1}")(x)
      else:  # The paper's fractionally-strided convolution (checkerboard artifacts).
        x = nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME",
                             precision=precision_lib.lax_precision(self.precision),
                             name=f"up{i + 1}")(x)
      x = nn.relu(_Norm(cfg.norm, name=f"up{i + 1}_norm")(x, train))
    x = self.conv(3, 9, precision=self.precision, name="out")(x)
    # The paper's scaled tanh, 150 tanh(x) around the mean pixel on a 0-255 scale,
    # reaches the ends of the range at |tanh| = 0.85, where its gradient is still 0.28.
    # A tanh spanning exactly [0, 1] saturates there instead: regions driven to a pure
    # colour stop learning (flat yellow blobs, in training on The Starry Night).
    z = x[:, :h, :w, :]
    y = 0.5 + OUTPUT_SCALE * jnp.tanh(z)
    if not train:
      y = jnp.clip(y, 0.0, 1.0)
    return (y, z) if logits else y


def init_variables(config: ImageTransformConfig, seed: int = 0) -> dict:
  """Fresh variables ({'params': ...} plus 'batch_stats' for batch norm).

  Kernels are LeCun-normal (flax's default, untruncated), biases and shifts 0, scales
  and running variances 1. Drawn with NumPy from the shapes flax reports: compiling
  flax's own initializers takes XLA:CPU over ten seconds.
  """
  shapes = jax.eval_shape(
      lambda k, x: ImageTransformNet(config).init(k, x, train=False), jax.random.key(0),
      jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
  rng = np.random.default_rng([seed, 0x57A])

  def draw(path, leaf):
    name = path[-1].key
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      value = rng.normal(0.0, np.sqrt(1.0 / fan_in), leaf.shape)
    elif name in ("scale", "var"):
      value = np.ones(leaf.shape)
    else:
      value = np.zeros(leaf.shape)
    return jnp.asarray(value, jnp.float32)

  return dict(jax.tree_util.tree_map_with_path(draw, dict(shapes)))


def count_params(variables: Mapping[str, Any]) -> int:
  return int(sum(np.size(v) for v in jax.tree_util.tree_leaves(variables.get("params", {}))))
