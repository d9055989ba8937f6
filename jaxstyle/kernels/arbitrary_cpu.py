"""The arbitrary-style predictor's depthwise convolutions in a form XLA:CPU runs faster.

Plugged into `nets.arbitrary.StylePredictor` by `kernels="cpu"` (`SameConv`, the same
function and params as `nets.arbitrary.SameConv`): a k x k depthwise convolution as the
sum of k^2 shifted, per-channel scaled views of the padded input, which XLA fuses into
one elementwise loop; XLA:CPU's grouped convolution with one channel per group is much
slower. Other layers, and precisions other than float32, run the plain convolutions.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.nets import arbitrary as nets
from jaxstyle.nets.johnson import ConvParams


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


class SameConv(nn.Module):
  """`nets.arbitrary.SameConv` (same params), depthwise layers as shifted sums."""

  features: int
  kernel: int = 1
  stride: int = 1
  depthwise: bool = False
  precision: str = "float32"

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    if self.depthwise and self.features != cin:
      raise ValueError(f"a depthwise convolution keeps its {cin} channels, not {self.features}")
    kernel, bias = ConvParams(self.features, self.kernel, name="conv")(
        1 if self.depthwise else cin)
    if self.depthwise and self.precision == "float32":
      return depthwise_conv(x, kernel, self.stride) + bias
    return nets.grouped_conv(x, kernel, self.precision, stride=self.stride,
                             groups=cin if self.depthwise else 1) + bias
