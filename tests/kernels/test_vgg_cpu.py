"""The hand-written gradients and convolutions agree with plain autodiff and XLA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import features as features_lib
from jaxstyle import losses
from jaxstyle import weights as weights_lib
from jaxstyle.kernels import vgg_cpu, winograd


def _direct(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision=jax.lax.Precision.HIGHEST)


def _arrays(shape, cin, cout, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal(shape + (cin,)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin), jnp.float32)
  g = jnp.asarray(rng.standard_normal(shape + (cout,)), jnp.float32)
  return x, kernel, g


@jax.jit
def _conv3x3_and_vjp(x, kernel, derived, g):
  """vgg_cpu.conv3x3 (float32) and its vector-Jacobian product with g, as one jitted
  program (op by op, each small operation compiles on its own)."""
  y, vjp = jax.vjp(lambda x, k: vgg_cpu.conv3x3(x, k, derived, "float32"), x, kernel)
  return y, vjp(g)


@jax.jit
def _direct_and_vjp(x, kernel, g):
  y, vjp = jax.vjp(_direct, x, kernel)
  return y, vjp(g)


def _close(a, b, tol=2e-5):
  a, b = np.asarray(a), np.asarray(b)
  assert np.abs(a - b).max() <= tol * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(1, 8, 12), (2, 7, 9), (1, 1, 5), (1, 6, 1), (1, 10, 13)])
def test_winograd_convolution_and_its_transpose_match_xla(shape, m):
  """F(2x2) and F(4x4); sizes that are and are not multiples of the tile (padded and
  cropped), batches, 1-pixel maps. One jitted program per case (op by op, each of the
  many small operations compiles on its own: 3-4x slower)."""

  @jax.jit
  def outputs(x, kernel, g):
    u = winograd.kernel_transform(kernel, m)
    _, vjp = jax.vjp(lambda x: _direct(x, kernel), x)
    return (winograd.conv(x, u, jax.lax.Precision.HIGHEST), _direct(x, kernel),
            winograd.conv_transpose(g, u.swapaxes(1, 2), jax.lax.Precision.HIGHEST),
            vjp(g)[0])

  y, y_ref, gx, gx_ref = outputs(*_arrays(shape, 5, 4))
  _close(y, y_ref)
  _close(gx, gx_ref)


@pytest.mark.parametrize("use_winograd", [False, True])
@pytest.mark.slow
def test_conv3x3_gradients_match_autodiff(use_winograd):
  x, kernel, g = _arrays((2, 9, 10), 6, 3)
  derived = {"kernel_t": vgg_cpu.backward_kernel(kernel)}
  if use_winograd:
    u = winograd.kernel_transform(kernel, vgg_cpu.WINOGRAD_TILE)
    derived.update(winograd=u, winograd_t=u.swapaxes(1, 2))
  y, grads = _conv3x3_and_vjp(x, kernel, derived, g)
  y_ref, grads_ref = _direct_and_vjp(x, kernel, g)
  _close(y, y_ref)
  for got, want in zip(grads, grads_ref):
    _close(got, want)
  # The derived kernels are data, not inputs of the function: zero gradient.
  d = jax.jit(jax.grad(lambda d: jnp.sum(vgg_cpu.conv3x3(x, kernel, d, "float32"))))(derived)
  assert all(not np.any(np.asarray(v)) for v in jax.tree.leaves(d))


@pytest.mark.slow
def test_conv3x3_at_256_channels_matches_xla():
  """At VGG-19's widths (256 in and out) on small maps: conv3x3 with what
  `derived_kernels` makes, with the Winograd kernels added by hand and without them,
  gives XLA's output and gradients (6 x 7: the last tiles padded and cropped). F(4x4)
  error measured: 7e-6 of the largest value. Fails for a wrong transform (a point or a
  matrix entry), a wrong crop of the last tiles, or a kernel not flipped or transposed
  for the input gradient."""
  x, kernel, g = _arrays((1, 6, 7), 256, 256)
  plain = {"kernel_t": vgg_cpu.backward_kernel(kernel)}
  u = winograd.kernel_transform(kernel, vgg_cpu.WINOGRAD_TILE)
  variants = {"derived": vgg_cpu.derived_kernels(kernel), "plain": plain,
              "winograd": dict(plain, winograd=u, winograd_t=u.swapaxes(1, 2))}
  y_ref, grads_ref = _direct_and_vjp(x, kernel, g)
  for derived in variants.values():
    y, grads = _conv3x3_and_vjp(x, kernel, derived, g)
    _close(y, y_ref, tol=1e-4)
    for got, want in zip(grads, grads_ref):
      _close(got, want, tol=1e-4)


@pytest.mark.slow
def test_cpu_kernels_match_xla_in_a_network_with_256_channels():
  """features(kernels="cpu") with the derived variables equals the plain XLA network,
  features and input gradient of a loss on them, where layers conv3_2..conv3_4 are
  256 channels wide (the tiny test network never is)."""
  widths = (4, 6, 256, 8, 8)
  weights = weights_lib.random_weights(seed=1, widths=widths)
  images = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 24, 20, 3)), jnp.float32)
  layers = ("conv3_4", "conv4_1")

  def run(kernels):
    fn = features_lib.feature_fn(widths, weights.preprocessing, kernels=kernels)
    variables = features_lib.network_variables(weights, kernels)
    loss = lambda x: sum(jnp.sum(jnp.square(v)) for v in fn(variables, x, layers).values())
    return jax.jit(lambda x: (fn(variables, x, layers), jax.grad(loss)(x)))(images)

  (feats, grad), (feats_ref, grad_ref) = run("cpu"), run("xla")
  for layer in layers:
    _close(feats[layer], feats_ref[layer], tol=1e-4)
  _close(grad, grad_ref, tol=1e-4)


@pytest.mark.slow
def test_max_pool_gradient_matches_jnp_max_without_ties():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 8, 3))
  g = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 4, 3))
  reference = lambda x: jnp.max(x.reshape(2, 3, 2, 4, 2, 3), axis=(2, 4))
  _, vjp = jax.vjp(lambda x: vgg_cpu.pool_2x2(x, "max"), x)
  _, vjp_ref = jax.vjp(reference, x)
  np.testing.assert_allclose(vjp(g)[0], vjp_ref(g)[0])
  # Each 2x2 block passes its gradient to exactly one position (its maximum).
  assert np.count_nonzero(np.asarray(vjp(g)[0])) == g.size


def test_gram_gradient_matches_autodiff():
  f = jax.random.normal(jax.random.PRNGKey(0), (5, 7, 4))
  target = jax.random.normal(jax.random.PRNGKey(1), (4, 4))

  def plain(f):
    m = f.reshape(-1, 4)
    return jnp.sum(jnp.square(jnp.matmul(m.T, m, precision="highest") - target))

  _close(jax.grad(lambda f: jnp.sum(jnp.square(losses.gram_matrix(f) - target)))(f),
         jax.grad(plain)(f))
