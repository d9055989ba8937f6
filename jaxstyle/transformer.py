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

A model file (`save_model` / `load_model`) is one msgpack blob: the network's config,
its variables (params, and batch_stats for batch norm) and free-form metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxstyle._atomic import atomic_path
from jaxstyle.errors import UserError

NORMS = ("instance", "batch")
UPSAMPLES = ("nearest", "transpose")
MODEL_FORMAT = "jaxstyle.transformer/2"  # 2: the scaled tanh output.
_EPS = 1e-5
_OLD_FORMAT = "jaxstyle.transformer/1"
OUTPUT_SCALE = 150.0 / 255.0  # Johnson et al.'s output: 150 tanh(x) on a 0-255 scale.
# Where 0.5 + OUTPUT_SCALE tanh(z) reaches 0 and 1: beyond, z only drives saturation.
LOGIT_LIMIT = float(np.arctanh(0.5 / OUTPUT_SCALE))


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
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
    if self.norm not in NORMS:
      raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
    if self.upsample not in UPSAMPLES:
      raise ValueError(f"upsample must be one of {UPSAMPLES}, got {self.upsample!r}")

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "TransformerConfig":
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


def _xla_conv(x, kernel, stride, padding):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_batched_grad(x, kernel, stride, padding):
  return _xla_conv(x, kernel, stride, padding)


def _conv_forward(x, kernel, stride, padding):
  return _xla_conv(x, kernel, stride, padding), (x, kernel)


def _conv_backward(stride, padding, residuals, g):
  """XLA's input gradient for the batch; the kernel gradient one image at a time,
  summed: XLA:CPU's kernel gradient of a batch of 4 ran 2.7-3x slower than four of
  one image (e.g. 140 vs 52 ms for 4 x 64 x 64 x 128 -> 128 channels)."""
  x, kernel = residuals
  conv = lambda x, k: _xla_conv(x, k, stride, padding)
  dx = jax.vjp(lambda x: conv(x, kernel), x)[1](g)[0]
  dk = None
  for n in range(x.shape[0]):
    d = jax.vjp(lambda k: conv(x[n:n + 1], k), kernel)[1](g[n:n + 1])[0]
    dk = d if dk is None else dk + d
  return dx, dk


_conv_batched_grad.defvjp(_conv_forward, _conv_backward)


def _conv(x, kernel, stride=1, padding="VALID"):
  """XLA's NHWC convolution, with a faster kernel gradient (`_conv_backward`)."""
  if not isinstance(padding, str):
    padding = tuple(tuple(p) for p in padding)
  return _conv_batched_grad(x, kernel, stride, padding)


def _with_conv_gradient(fast, stride: int = 1):
  """`fast(x, kernel)`, a VALID convolution with `stride` computed another way, with the
  gradient of XLA's convolution (`_conv`'s).

  Differentiating the reshapes, slices and shifted-view sums of these forms through JAX
  gives many padded copies of large arrays: for the 9x9 layers' earlier forms the
  training step's backward pass took 4.4 s of its 5.4 s there (batch 4, 128 px); XLA's
  convolution gradients take ~0.1 s.
  """

  @jax.custom_vjp
  def conv(x, kernel):
    return fast(x, kernel)

  def forward(x, kernel):
    return fast(x, kernel), (x, kernel)

  def backward(residuals, g):
    return jax.vjp(lambda x, k: _conv(x, k, stride), *residuals)[1](g)

  conv.defvjp(forward, backward)
  return functools.wraps(fast)(conv)


def space_to_depth(x: jax.Array, b: int) -> jax.Array:
  """[N, H, W, C] -> [N, H/b, W/b, b*b*C], each b x b block's pixels as channels
  (row-major within the block)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // b, w // b, b * b * c)


def depth_to_space(y: jax.Array, b: int) -> jax.Array:
  """The inverse of `space_to_depth`."""
  n, h, w, bbc = y.shape
  c = bbc // (b * b)
  y = y.reshape(n, h, w, b, b, c).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, h * b, w * b, c)


def blocked_kernel(kernel: jax.Array, b: int) -> jax.Array:
  """The stride-1 k x k kernel as a kernel over b x b blocks: [k, k, cin, cout] ->
  [nb, nb, b*b*cin, b*b*cout] with nb = ceil((b + k - 1) / b). Output pixel (p, q) of
  a block takes input pixel (r, s) of the block at offset (A, B) with tap
  (b A + r - p, b B + s - q) where that lies in the kernel, zero elsewhere."""
  k = kernel.shape[0]
  nb = -(-(b + k - 1) // b)
  off = b * np.arange(nb)[:, None, None] + np.arange(b)[None, :, None] - np.arange(b)[None, None, :]
  inside = (off >= 0) & (off < k)  # [A, r, p]
  off = np.clip(off, 0, k - 1)
  taps = kernel[off[:, None, :, None, :, None], off[None, :, None, :, None, :]]
  mask = inside[:, None, :, None, :, None] & inside[None, :, None, :, None, :]
  taps = jnp.where(mask[..., None, None], taps, 0.0)  # [A, B, r, s, p, q, cin, cout]
  cin, cout = kernel.shape[2:]
  return taps.transpose(0, 1, 2, 3, 6, 4, 5, 7).reshape(nb, nb, b * b * cin, b * b * cout)


def _blocked_input(x: jax.Array, k: int, block: int) -> tuple[jax.Array, int, int, int]:
  """Pads the VALID convolution input x (k x k kernel) with zeros to whole blocks and
  moves them to channels; returns (blocks, nb, output height, output width)."""
  n, hp, wp, _ = x.shape
  h, w = hp - k + 1, wp - k + 1
  nb = -(-(block + k - 1) // block)
  bh, bw = -(-h // block), -(-w // block)
  x = jnp.pad(x, ((0, 0), (0, block * (bh + nb - 1) - hp), (0, block * (bw + nb - 1) - wp),
                  (0, 0)))
  return space_to_depth(x, block), nb, h, w


def _conv_wide_in(x: jax.Array, kernel: jax.Array, block: int = 4) -> jax.Array:
  """VALID convolution with a large kernel and few input channels (the 9x9 input layer)
  on `block` x `block` blocks: space-to-depth of x (48 channels for RGB), a 3x3
  convolution to the block's 16 output pixels x cout channels, depth-to-space.

  1.8x the multiplications of the direct form (the blocked kernel's zero taps), but
  shaped for a fast convolution: at 256 px 8.9 ms, against 87 ms for XLA:CPU's direct
  convolution of 3 channels and 33 ms for a concatenation of the 9 shifts along W with
  one product and 9 shifted sums (which wrote and re-read a 78 MB product).
  """
  z, _, h, w = _blocked_input(x, kernel.shape[0], block)
  y = _xla_conv(z, blocked_kernel(kernel, block), 1, "VALID")
  return depth_to_space(y, block)[:, :h, :w]


conv_wide_in = _with_conv_gradient(_conv_wide_in)


def _conv_wide_out(x: jax.Array, kernel: jax.Array, block: int = 2) -> jax.Array:
  """VALID convolution with a large kernel and few output channels (the 9x9 output
  layer) on `block` x `block` blocks: space-to-depth of x, one product of every block
  with all nb x nb block taps of `blocked_kernel`, the nb x nb shifted views of it
  summed (one fused loop), depth-to-space.

  XLA:CPU's direct convolution runs a 9x9x32 -> 3 layer at ~6 GFLOP/s (160 ms at
  256 px): three output channels leave a GEMM nothing to vectorize over. The same
  product-and-shifted-sums per pixel (243 taps) took 25 ms, writing and re-reading a
  68 MB product; per 2 x 2 block (25 block taps of 12 outputs) it takes 10 ms.
  """
  k, cout = kernel.shape[0], kernel.shape[-1]
  z, nb, h, w = _blocked_input(x, k, block)
  bk = blocked_kernel(kernel, block)  # [nb, nb, b*b*cin, m]
  m = bk.shape[-1]
  taps = z @ jnp.transpose(bk, (2, 0, 1, 3)).reshape(bk.shape[2], nb * nb * m)
  bh, bw = z.shape[1] - nb + 1, z.shape[2] - nb + 1
  out = None
  for i in range(nb):
    for j in range(nb):
      c = (i * nb + j) * m
      view = taps[:, i:i + bh, j:j + bw, c:c + m]
      out = view if out is None else out + view
  return depth_to_space(out, block)[:, :h, :w, :cout]


conv_wide_out = _with_conv_gradient(_conv_wide_out)


def _conv_stride2_blocked(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """VALID 3x3 stride-2 convolution as a 2x2 stride-1 one on 2x2 blocks: space-to-depth
  of x (4 cin channels) and the kernel zero-padded to 4x4 and folded the same way. For
  the 256 px image's 32 -> 64 layer 9.0 ms against 11.1 for XLA:CPU's strided
  convolution (at 64 input channels it was slower, 6.6 vs 4.5 ms: `_Conv` uses it
  below that)."""
  n, hp, wp, cin = x.shape
  x = jnp.pad(x, ((0, 0), (0, hp % 2), (0, wp % 2), (0, 0)))
  k = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # [4, 4, cin, cout]
  k = k.reshape(2, 2, 2, 2, cin, -1).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * cin, -1)
  return _xla_conv(space_to_depth(x, 2), k, 1, "VALID")


conv_stride2 = _with_conv_gradient(_conv_stride2_blocked, stride=2)


def upsample_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """3x3 convolution of the 2x nearest-neighbour upsampled x, reflection-padded by 1,
  computed at x's resolution: 2.25x fewer multiplications, no upsampled copy.

  Each output phase (a, b) (row 2h + a, column 2w + b) sees only two distinct input
  rows and columns, so it is a 2x2 convolution of x with summed taps: for a = 0 rows
  (h-1, h) with kernel rows (k0, k1 + k2); for a = 1 rows (h, h+1) with (k0 + k1, k2).
  Reflection padding of the upsampled image equals edge padding of x.
  """
  n, h, w, _ = x.shape
  cout = kernel.shape[-1]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  fold = (lambda k: jnp.stack([k[0], k[1] + k[2]]),   # phase 0: offsets -1, 0
          lambda k: jnp.stack([k[0] + k[1], k[2]]))   # phase 1: offsets 0, +1
  rows = []
  for a in range(2):
    cols = []
    ka = fold[a](kernel)  # [2, 3, cin, cout]
    for b in range(2):
      kab = jnp.swapaxes(fold[b](jnp.swapaxes(ka, 0, 1)), 0, 1)  # [2, 2, cin, cout]
      # Zero padding on x's own grid (XLA:CPU's fast path: a VALID convolution of the
      # (h+1) x (w+1) padded view was up to 4.8x slower), then the one row and column
      # that saw the padding recomputed from the edge-padded image.
      y = _conv(x, kab, padding=((1 - a, a), (1 - b, b)))
      r = 0 if a == 0 else h - 1
      y = y.at[:, r].set(_conv(xp[:, r + a:r + a + 2, b:b + w + 1], kab)[:, 0])
      c = 0 if b == 0 else w - 1
      y = y.at[:, :, c].set(_conv(xp[:, a:a + h + 1, c + b:c + b + 2], kab)[:, :, 0])
      cols.append(y)
    rows.append(jnp.stack(cols, axis=3))  # [n, h, w, 2 (b), cout]
  out = jnp.stack(rows, axis=2)  # [n, h, 2 (a), w, 2 (b), cout]
  return out.reshape(n, 2 * h, 2 * w, cout)


def reflect_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """3x3 convolution of x reflection-padded by 1 (stride 1; output the size of x).

  Computed as XLA's SAME convolution (zero padding) with the border rows and columns
  recomputed from the reflected image: XLA:CPU's VALID convolution of the padded map
  was 1.7x slower at 64x64 and 3.3x slower at 128x128 (128 channels) than the SAME one
  of the same size, which is fast for the map's own (power-of-two) size.
  """
  h, w = x.shape[1], x.shape[2]
  if min(h, w) < 2:
    return _conv(reflect_pad(x, 1), kernel)
  y = _conv(x, kernel, padding="SAME")
  xp = reflect_pad(x, 1)
  y = y.at[:, 0].set(_conv(xp[:, 0:3], kernel)[:, 0])
  y = y.at[:, h - 1].set(_conv(xp[:, h - 1:h + 2], kernel)[:, 0])
  y = y.at[:, :, 0].set(_conv(xp[:, :, 0:3], kernel)[:, :, 0])
  return y.at[:, :, w - 1].set(_conv(xp[:, :, w - 1:w + 2], kernel)[:, :, 0])


class _ConvParams(nn.Module):
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


class _Conv(nn.Module):
  """Reflection padding by kernel // 2, then a VALID convolution.

  upsampled: the input is first upsampled 2x (nearest), computed by `upsample_conv`.
  """

  features: int
  kernel: int
  stride: int = 1
  upsampled: bool = False

  @nn.compact
  def __call__(self, x):
    kernel, bias = _ConvParams(self.features, self.kernel, name="conv")(x.shape[-1])
    if self.upsampled:
      return upsample_conv(x, kernel) + bias
    if self.stride == 1 and self.kernel == 3:
      return reflect_conv3x3(x, kernel) + bias
    x = reflect_pad(x, self.kernel // 2)
    cin = x.shape[-1]
    if self.stride == 1 and self.kernel > 3 and cin <= 4:
      y = conv_wide_in(x, kernel)
    elif self.stride == 1 and self.kernel > 3 and self.features <= 4:
      y = conv_wide_out(x, kernel)
    elif self.stride == 2 and self.kernel == 3 and cin < 64:
      y = conv_stride2(x, kernel)
    else:
      y = _conv(x, kernel, self.stride)
    return y + bias


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

  @nn.compact
  def __call__(self, x, train: bool):
    y = nn.relu(_Norm(self.norm, name="norm1")(_Conv(self.features, 3, name="conv1")(x), train))
    y = _Norm(self.norm, name="norm2")(_Conv(self.features, 3, name="conv2")(y), train)
    return x + y


class TransformerNet(nn.Module):
  """Johnson et al.'s image transformation network: [N, H, W, 3] in [0, 1] -> same
  (in training the output may overshoot [0, 1] slightly; otherwise it is clipped)."""

  config: TransformerConfig = TransformerConfig()

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
      x = _Conv(features, kernel, stride, name=f"down{i + 1}")(x)
      x = nn.relu(_Norm(cfg.norm, name=f"down{i + 1}_norm")(x, train))
    for i in range(cfg.num_residual):
      x = _Residual(w3, cfg.norm, name=f"res{i + 1}")(x, train)
    for i, features in enumerate((w2, w1)):
      if cfg.upsample == "nearest":
        x = _Conv(features, 3, upsampled=True, name=f"up{i + 1}")(x)
      else:  # The paper's fractionally-strided convolution (checkerboard artifacts).
        x = nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME",
                             name=f"up{i + 1}")(x)
      x = nn.relu(_Norm(cfg.norm, name=f"up{i + 1}_norm")(x, train))
    x = _Conv(3, 9, name="out")(x)
    # The paper's scaled tanh, 150 tanh(x) around the mean pixel on a 0-255 scale,
    # reaches the ends of the range at |tanh| = 0.85, where its gradient is still 0.28.
    # A tanh spanning exactly [0, 1] saturates there instead: regions driven to a pure
    # colour stop learning (flat yellow blobs, in training on The Starry Night).
    z = x[:, :h, :w, :]
    y = 0.5 + OUTPUT_SCALE * jnp.tanh(z)
    if not train:
      y = jnp.clip(y, 0.0, 1.0)
    return (y, z) if logits else y


def init_variables(config: TransformerConfig, seed: int = 0) -> dict:
  """Fresh variables ({'params': ...} plus 'batch_stats' for batch norm).

  Kernels are LeCun-normal (flax's default, untruncated), biases and shifts 0, scales
  and running variances 1. Drawn with NumPy from the shapes flax reports: compiling
  flax's own initializers takes XLA:CPU over ten seconds.
  """
  shapes = jax.eval_shape(
      lambda k, x: TransformerNet(config).init(k, x, train=False), jax.random.key(0),
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


def apply(config: TransformerConfig, variables: Mapping[str, Any], images: jax.Array, *,
          train: bool = False) -> tuple[jax.Array, dict]:
  """Runs the network; returns (images, variables with updated batch statistics).

  In training, batch norm normalizes with the batch's statistics and updates the
  running averages; otherwise (and for instance norm always) `variables` come back as is.
  """
  model = TransformerNet(config)
  if train and "batch_stats" in variables:
    out, updates = model.apply(dict(variables), images, train=True, mutable=["batch_stats"])
    return out, dict(variables, **updates)
  return model.apply(dict(variables), images, train=train), dict(variables)


def apply_train(config: TransformerConfig, variables: Mapping[str, Any],
                images: jax.Array) -> tuple[jax.Array, jax.Array, dict]:
  """`apply` in training mode; returns (images, the tanh's inputs, variables)."""
  model = TransformerNet(config)
  if "batch_stats" in variables:
    (out, z), updates = model.apply(dict(variables), images, train=True, logits=True,
                                    mutable=["batch_stats"])
    return out, z, dict(variables, **updates)
  out, z = model.apply(dict(variables), images, train=True, logits=True)
  return out, z, dict(variables)


def count_params(variables: Mapping[str, Any]) -> int:
  return int(sum(np.size(v) for v in jax.tree_util.tree_leaves(variables.get("params", {}))))


# --- Model files ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FastModel:
  """A trained network: its config, variables (float32) and metadata (style, training)."""

  config: TransformerConfig
  variables: dict
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def save_model(model: FastModel, path: str | os.PathLike, *, dtype: str = "float32") -> int:
  """Writes `model` atomically (variables stored as `dtype`); returns the file size."""
  if dtype not in ("float32", "float16"):
    raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
  arrays = jax.tree_util.tree_map(lambda v: np.asarray(v, dtype), model.variables)
  blob = serialization.msgpack_serialize({
      "format": MODEL_FORMAT, "config": model.config.to_json(),
      "meta": json.dumps(dict(model.meta), sort_keys=True, default=str),
      "variables": arrays})
  with atomic_path(path) as tmp:
    pathlib.Path(tmp).write_bytes(blob)
  return len(blob)


def load_model(path: str | os.PathLike) -> FastModel:
  """Reads a model file written by `save_model` (variables as float32).

  Raises:
    UserError: missing file, not a model file, or variables that do not fit the config.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f"model file {path} does not exist")
  try:
    raw = serialization.msgpack_restore(path.read_bytes())
    fmt = raw.get("format")
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"{path} is not a jaxstyle fast-style model ({e})") from None
  if fmt == _OLD_FORMAT:
    raise UserError(f"{path} was written by an older jaxstyle (its output tanh spans "
                    "exactly [0, 1], since replaced by Johnson et al.'s scaled tanh): "
                    "retrain it with python -m jaxstyle.train_fast")
  try:
    if fmt != MODEL_FORMAT:
      raise ValueError(f"format {fmt!r}")
    config = TransformerConfig.from_json(raw["config"])
    meta = json.loads(raw["meta"])
  except Exception as e:  # msgpack, JSON and key errors all mean the same here.
    raise UserError(f"{path} is not a jaxstyle fast-style model ({e})") from None
  template = init_variables(config)
  loaded = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float32), raw["variables"])
  want = {jax.tree_util.keystr(k): v.shape
          for k, v in jax.tree_util.tree_leaves_with_path(template)}
  got = {jax.tree_util.keystr(k): np.shape(v)
         for k, v in jax.tree_util.tree_leaves_with_path(loaded)}
  if want != got:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    raise UserError(f"{path}: variables do not match its config (missing {missing[:3]}, "
                    f"unexpected {extra[:3]}, mis-shaped {wrong[:3]})")
  return FastModel(config=config, variables=loaded, meta=meta)
