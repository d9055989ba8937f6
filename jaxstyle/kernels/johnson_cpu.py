"""The feed-forward network's convolutions in the forms XLA:CPU runs faster.

Plugged into `nets.johnson.ImageTransformNet` by `kernels="cpu"` (`ReflectConv`, the
same function and params as `nets.johnson.ReflectConv`):

- kernel gradients one image at a time (XLA:CPU's batched kernel gradient is slower);
- the 9x9 input layer as a 3x3 convolution on 4x4 space-to-depth blocks, the 9x9
  output layer as one product with its block taps and shifted sums, the narrow
  stride-2 layer on 2x2 blocks, each with XLA's convolution gradient;
- reflection-padded 3x3 convolutions as XLA's zero-padded one with the border rows and
  columns recomputed; upsample + convolution at the low resolution.

Timings are in benchmarks/README.md. At precisions other than float32 the plain
convolutions run.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.nets import johnson


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
  summed (XLA:CPU's kernel gradient of a whole batch is slower than one per image)."""
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
  gives many padded copies of large arrays; XLA's convolution gradients do not.
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
  shaped for a fast convolution: XLA:CPU's direct convolution of 3 input channels has
  little to vectorize over.
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

  On XLA:CPU three output channels leave the direct convolution's GEMM nothing to
  vectorize over; per 2 x 2 block the product has 12 outputs and the shifted sums
  read a smaller product than per pixel.
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
  of x (4 cin channels) and the kernel zero-padded to 4x4 and folded the same way.
  Faster than XLA:CPU's strided convolution below 64 input channels (`ReflectConv`
  uses it there)."""
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
      # Zero padding on x's own grid (XLA:CPU's fast path; a VALID convolution of the
      # (h+1) x (w+1) padded view is slower), then the one row and column that saw the
      # padding recomputed from the edge-padded image.
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
  recomputed from the reflected image: XLA:CPU's SAME convolution is fast for the
  map's own (power-of-two) size, its VALID convolution of the padded map is not.
  """
  h, w = x.shape[1], x.shape[2]
  if min(h, w) < 2:
    return _conv(johnson.reflect_pad(x, 1), kernel)
  y = _conv(x, kernel, padding="SAME")
  xp = johnson.reflect_pad(x, 1)
  y = y.at[:, 0].set(_conv(xp[:, 0:3], kernel)[:, 0])
  y = y.at[:, h - 1].set(_conv(xp[:, h - 1:h + 2], kernel)[:, 0])
  y = y.at[:, :, 0].set(_conv(xp[:, :, 0:3], kernel)[:, :, 0])
  return y.at[:, :, w - 1].set(_conv(xp[:, :, w - 1:w + 2], kernel)[:, :, 0])


class ReflectConv(johnson.ReflectConv):
  """`nets.johnson.ReflectConv` (same attributes and params), dispatching to the forms
  above."""

  @nn.compact
  def __call__(self, x):
    kernel, bias = johnson.ConvParams(self.features, self.kernel, name="conv")(x.shape[-1])
    if self.precision != "float32":  # The forms here are for float32 only.
      return johnson.reflect_conv(x, kernel, stride=self.stride, upsampled=self.upsampled,
                                  precision=self.precision) + bias
    if self.upsampled:
      return upsample_conv(x, kernel) + bias
    if self.stride == 1 and self.kernel == 3:
      return reflect_conv3x3(x, kernel) + bias
    x = johnson.reflect_pad(x, self.kernel // 2)
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
