"""Arbitrary style in one forward pass (Ghiasi, Lee, Kudlur, Dumoulin & Shlens, BMVC 2017).

Two networks, as in Magenta's `arbitrary_image_stylization`:

  StylePredictor    style image [N, H, W, 3] -> style vector [N, 100]
                    MobileNetV2 (width 1.0): 3x3 stride-2 conv to 32 + ReLU6, 17
                    inverted-residual blocks, 1x1 conv to 1280 + ReLU6, global average
                    pool, a 1x1 "bottleneck" 1280 -> 100 (no activation).
  StyleTransformer  content image [N, H, W, 3], style vector [N, 100] -> image [N, H, W, 3]
                    9x9 conv 3->8, 3x3 stride-2 convs 8->16->32 (each + ReLU), five
                    residual blocks, two nearest 2x upsamplings + 3x3 conv (32->16->8),
                    a 9x9 conv 8->3 and a sigmoid; reflection padding everywhere.
                    The residual and upsampling layers end in a *conditional* instance
                    norm: its scale (gamma) and shift (beta) are 1x1 projections of the
                    style vector (13 norms).

Departures from the paper, which follow the published weights (Magenta's quantized
TFLite models, see weights/README.md): the style predictor is MobileNetV2 rather than
Inception-v3 and the transformer is a quarter of the paper's width (8/16/32 channels,
the paper's 32/64/128); batch norms are folded into the convolutions' biases.

Images are float32 RGB in [0, 1], NHWC, no mean subtraction, in and out. Sizes:

- the predictor takes any size. Its stride-2 convolutions pad as TensorFlow's SAME, in
  which the network was trained: an even side gets one row (column) at the bottom
  (right), an odd side one on each side. The published graph pads bottom and right
  statically, frozen at its 256x256: the same wherever every stride-2 layer sees an
  even side (multiples of 32); elsewhere it drops the odd side's padding.
- the transformer takes any size: the image is padded by reflection at the bottom and
  right to a multiple of 4 (its two stride-2 convolutions) and the output cropped back,
  as for `nets.johnson.ImageTransformNet`. The padded rows enter the instance norms'
  statistics.

Modules say what they compute with plain XLA operations; faster forms for XLA:CPU plug
in (`conv=`): `kernels.arbitrary_cpu.SameConv` for the predictor, and, the transformer's
reflection-padded convolutions being `nets.johnson.ReflectConv` (the layer of Johnson et
al.'s network), `kernels.arbitrary_cpu.ReflectConv` (`kernels.johnson_cpu`'s forms,
chosen for these narrower layers) for the transformer.
Weight files: `jaxstyle.weights.arbitrary`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle import precision as precision_lib
from jaxstyle.nets.johnson import ConvParams, ReflectConv, instance_norm

ModuleDef = Any

STYLE_DIM = 100
# MobileNetV2's inverted-residual blocks (Sandler et al. 2018, Table 2): expansion t,
# output channels c, repeats n, first stride s.
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_WIDTH = 32
HEAD_WIDTH = 1280
TRANSFORMER_WIDTHS = (8, 16, 32)
NUM_RESIDUAL = 5


def block_specs() -> tuple[tuple[int, int, int], ...]:
  """(expansion, output channels, stride) of each of the 17 inverted-residual blocks."""
  return tuple((t, c, s if i == 0 else 1) for t, c, n, s in MOBILENET_V2_BLOCKS
               for i in range(n))


def relu6(x: jax.Array) -> jax.Array:
  return jnp.clip(x, 0.0, 6.0)


def grouped_conv(x: jax.Array, kernel: jax.Array, precision: str = "float32", *,
                 stride: int = 1, groups: int = 1) -> jax.Array:
  """NHWC x HWIO convolution with TensorFlow's SAME padding and `groups` feature groups
  (groups = channels: depthwise), at `precision` (as `jaxstyle.precision.conv`)."""
  if groups == 1:
    return precision_lib.conv(x, kernel, precision, strides=(stride, stride), padding="SAME")
  kwargs = {}
  if precision == "bfloat16":  # As precision.conv: an output type only for cast operands.
    kwargs["preferred_element_type"] = jnp.promote_types(x.dtype, jnp.float32)
    x, kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
  return jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), "SAME", feature_group_count=groups,
      precision=precision_lib.lax_precision(precision),
      dimension_numbers=("NHWC", "HWIO", "NHWC"), **kwargs)


class SameConv(nn.Module):
  """A k x k convolution with bias, TensorFlow SAME padding; `depthwise`: one filter
  per input channel (kernel [k, k, 1, C])."""

  features: int
  kernel: int = 1
  stride: int = 1
  depthwise: bool = False
  precision: str = "float32"

  def kernel_and_bias(self, cin: int) -> tuple[jax.Array, jax.Array]:
    if self.depthwise and self.features != cin:
      raise ValueError(f"a depthwise convolution keeps its {cin} channels, not {self.features}")
    return ConvParams(self.features, self.kernel, name="conv")(1 if self.depthwise else cin)

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    kernel, bias = self.kernel_and_bias(cin)
    return grouped_conv(x, kernel, self.precision, stride=self.stride,
                        groups=cin if self.depthwise else 1) + bias


class InvertedResidual(nn.Module):
  """MobileNetV2's block: 1x1 expansion + ReLU6 (absent when `expansion` is 1), 3x3
  depthwise + ReLU6, linear 1x1 projection; plus the input where shapes allow."""

  expansion: int
  features: int
  stride: int
  conv: ModuleDef = SameConv
  precision: str = "float32"

  @nn.compact
  def __call__(self, x):
    conv = self.conv
    cin = x.shape[-1]
    y = x
    if self.expansion != 1:
      y = relu6(conv(cin * self.expansion, 1, precision=self.precision, name="expand")(y))
    y = relu6(conv(y.shape[-1], 3, self.stride, depthwise=True, precision=self.precision,
                   name="depthwise")(y))
    y = conv(self.features, 1, precision=self.precision, name="project")(y)
    if self.stride == 1 and cin == self.features:
      y = x + y
    return y


class StylePredictor(nn.Module):
  """MobileNetV2 -> style vector: [N, H, W, 3] in [0, 1] -> [N, 100].

  Attributes:
    conv: the convolution module (`SameConv`, or `kernels.arbitrary_cpu.SameConv` with
      the same params).
    precision: the convolutions' precision (`jaxstyle.precision`).
  """

  conv: ModuleDef = SameConv
  precision: str = "float32"

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"style images must be RGB NHWC [N, H, W, 3], got shape {images.shape}")
    x = relu6(self.conv(STEM_WIDTH, 3, 2, precision=self.precision, name="stem")(images))
    for i, (t, c, s) in enumerate(block_specs()):
      x = InvertedResidual(t, c, s, self.conv, self.precision, name=f"block{i}")(x)
    x = relu6(self.conv(HEAD_WIDTH, 1, precision=self.precision, name="head")(x))
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(STYLE_DIM, precision=jax.lax.Precision.HIGHEST, name="bottleneck")(x)


class ConditionalInstanceNorm(nn.Module):
  """Instance norm whose scale and shift are 1x1 projections (dense layers) of the
  style vector (Dumoulin et al. 2017, with the projections of Ghiasi et al.)."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array, style: jax.Array) -> jax.Array:
    dense = lambda name: nn.Dense(self.features, precision=jax.lax.Precision.HIGHEST,
                                  name=name)(style)[:, None, None, :]
    return instance_norm(x) * dense("gamma") + dense("beta")


class StyleTransformer(nn.Module):
  """Magenta's style transfer network: ([N, H, W, 3] in [0, 1], [N, 100]) -> [N, H, W, 3]
  in (0, 1).

  Attributes:
    conv: the reflection-padded convolution (`nets.johnson.ReflectConv`, or
      `kernels.arbitrary_cpu.ReflectConv` with the same params).
    precision: the convolutions' precision (`jaxstyle.precision`); the style
      projections and norms are float32.
  """

  conv: ModuleDef = ReflectConv
  precision: str = "float32"

  @nn.compact
  def __call__(self, images: jax.Array, style: jax.Array) -> jax.Array:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"images must be RGB NHWC [N, H, W, 3], got shape {images.shape}")
    if style.shape != (images.shape[0], STYLE_DIM):
      raise ValueError(f"style vectors must be [N, {STYLE_DIM}] for {images.shape[0]} "
                       f"image(s), got shape {style.shape}")
    n, h, w, _ = images.shape
    ph, pw = -h % 4, -w % 4
    mode = "reflect" if min(h, w) > 1 else "edge"
    x = jnp.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    conv = lambda features, kernel, name, **kw: self.conv(
        features, kernel, precision=self.precision, name=name, **kw)
    w1, w2, w3 = TRANSFORMER_WIDTHS
    # Contraction: batch norms, folded into the biases; no style conditioning.
    x = nn.relu(conv(w1, 9, "contract1")(x))
    x = nn.relu(conv(w2, 3, "contract2", stride=2)(x))
    x = nn.relu(conv(w3, 3, "contract3", stride=2)(x))
    for i in range(1, NUM_RESIDUAL + 1):
      y = conv(w3, 3, f"residual{i}_conv1")(x)
      y = nn.relu(ConditionalInstanceNorm(w3, name=f"residual{i}_norm1")(y, style))
      y = conv(w3, 3, f"residual{i}_conv2")(y)
      x = x + ConditionalInstanceNorm(w3, name=f"residual{i}_norm2")(y, style)
    for i, features in enumerate((w2, w1), start=1):
      x = conv(features, 3, f"expand{i}", upsampled=True)(x)
      x = nn.relu(ConditionalInstanceNorm(features, name=f"expand{i}_norm")(x, style))
    x = conv(3, 9, "expand3")(x)
    x = ConditionalInstanceNorm(3, name="expand3_norm")(x, style)
    return jax.nn.sigmoid(x[:, :h, :w, :])
