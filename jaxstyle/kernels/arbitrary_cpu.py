"""The arbitrary-style networks' layers in the forms XLA:CPU runs faster.

Plugged in by `kernels="cpu"`, each with the same function and params as the plain
module it replaces:

- `SameConv` (for `nets.arbitrary.SameConv`, in the style predictor): a k x k depthwise
  convolution as the sum of k^2 shifted, per-channel scaled views of the padded input,
  which XLA fuses into one elementwise loop (XLA:CPU's grouped convolution with one
  channel per group is much slower); a 1x1 convolution as a matrix product over the
  channels (XLA:CPU's 1x1 convolution is slower for these narrow layers). The stem runs
  the plain convolution.
- `ReflectConv` (for `nets.johnson.ReflectConv`, in the style transformer): the forms of
  `kernels.johnson_cpu`, chosen for this network's narrow layers (8/16/32 channels, a
  quarter of Johnson et al.'s): the 9x9 output layer (8 -> 3 channels) on 4x4 blocks
  rather than 2x2 (each block tap's product 48 outputs wide instead of 12, and 9 shifted
  views of it summed instead of 25: XLA recomputes that sum in each pass of the
  instance norm that follows); the stride-2 layers (8 -> 16, 16 -> 32) as XLA's strided
  convolution, which at so few input channels is faster than the blocked form
  `johnson_cpu.ReflectConv` uses below 64; the 9x9 input layer, the 3x3 layers and the
  upsampling layers as in `johnson_cpu`.

Timings are in benchmarks/README.md. At precisions other than float32 the plain
convolutions run.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.kernels import johnson_cpu
from jaxstyle.nets import arbitrary as nets
from jaxstyle.nets import johnson
from jaxstyle.nets.johnson import ConvParams

# pylint: disable=protected-access
# The 9x9 output layer on 4x4 blocks, with XLA's convolution gradient.
conv_wide_out4 = johnson_cpu._with_conv_gradient(
    functools.partial(johnson_cpu._conv_wide_out, block=4))


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
  """[N, H, W, C] x [k, k, 1, C] depthwise convolution with TensorFlow SAME padding."""
  _, h, w, _ = x.shape
  k = kernel.shape[0]
  oh, ow = -(-h // stride), -(-w // stride)
  ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - w, 0)
  x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
  out = None
  for i in range(k):
    for j in range(k):
      view = x[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride]
      term = view * kernel[i, j, 0]
      out = term if out is None else out + term
  return out


class SameConv(nets.SameConv):
  """`nets.arbitrary.SameConv` (same attributes and params): depthwise layers as
  shifted sums, 1x1 layers as matrix products."""

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    kernel, bias = self.kernel_and_bias(cin)
    if self.depthwise and self.precision == "float32":
      return depthwise_conv(x, kernel, self.stride) + bias
    if (self.kernel == 1 and self.stride == 1 and not self.depthwise
        and self.precision == "float32"):
      return jnp.einsum("nhwc,cd->nhwd", x, kernel[0, 0],
                        precision=jax.lax.Precision.HIGHEST) + bias
    return nets.grouped_conv(x, kernel, self.precision, stride=self.stride,
                             groups=cin if self.depthwise else 1) + bias


class ReflectConv(johnson.ReflectConv):
  """`nets.johnson.ReflectConv` (same attributes and params) in the forms that suit the
  arbitrary-style transformer's widths (see the module docstring)."""

  @nn.compact
  def __call__(self, x):
    kernel, bias = ConvParams(self.features, self.kernel, name="conv")(x.shape[-1])
    if self.precision != "float32":  # The forms here are for float32 only.
      return johnson.reflect_conv(x, kernel, stride=self.stride, upsampled=self.upsampled,
                                  precision=self.precision) + bias
    if self.upsampled:
      return johnson_cpu.upsample_conv(x, kernel) + bias
    if self.stride == 1 and self.kernel == 3:
      return johnson_cpu.reflect_conv3x3(x, kernel) + bias
    cin = x.shape[-1]
    x = johnson.reflect_pad(x, self.kernel // 2)
    if self.stride == 1 and self.kernel > 3 and cin <= 4:
      y = johnson_cpu.conv_wide_in(x, kernel)
    elif self.stride == 1 and self.kernel > 3 and self.features <= 4:
      y = conv_wide_out4(x, kernel)
    else:
      y = johnson_cpu._conv(x, kernel, self.stride)
    return y + bias
