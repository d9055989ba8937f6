"""jaxstyle.kernels.vgg_cpu: VGG-19's CPU layers (hand-written gradients, derived and
Winograd kernels) agree with plain autodiff and XLA, alone and in the network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import features as features_lib
from jaxstyle import weights as weights_lib
from jaxstyle.kernels import vgg_cpu, winograd
from jaxstyle.nets.vgg import WIDTHS
from tests.conftest import random_image
from tests.kernels.conftest import conv_arrays, direct_conv




@jax.jit
def _conv3x3_and_vjp(x, kernel, derived, g):
  """vgg_cpu.conv3x3 (float32) and its vector-Jacobian product with g, as one jitted
  program (op by op, each small operation compiles on its own)."""
  y, vjp = jax.vjp(lambda x, k: vgg_cpu.conv3x3(x, k, derived, "float32"), x, kernel)
  return y, vjp(g)


@jax.jit
def _direct_and_vjp(x, kernel, g):
  y, vjp = jax.vjp(direct_conv, x, kernel)
  return y, vjp(g)


def _close(a, b, tol=2e-5):
  a, b = np.asarray(a), np.asarray(b)
  assert np.abs(a - b).max() <= tol * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("use_winograd", [False, True])
@pytest.mark.slow
def test_conv3x3_gradients_match_autodiff(use_winograd):
  x, kernel, g = conv_arrays((2, 9, 10), 6, 3)
  derived = {"kernel_t": vgg_cpu.backward_kernel(kernel)}
  if use_winograd:
    u = winograd.kernel_transform(kernel, vgg_cpu.WINOGRAD_TILE)
    derived["winograd"] = u
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
  x, kernel, g = conv_arrays((1, 6, 7), 256, 256)
  plain = {"kernel_t": vgg_cpu.backward_kernel(kernel)}
  u = winograd.kernel_transform(kernel, vgg_cpu.WINOGRAD_TILE)
  variants = {"derived": vgg_cpu.derived_kernels(kernel), "plain": plain,
              "winograd": dict(plain, winograd=u)}
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


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.fixture(scope="module")
def full_width_weights():
  """A VGG-19 of the real widths (64 ... 512 channels: the Winograd layers), random."""
  return weights_lib.random_weights(seed=3, widths=WIDTHS)


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.slow
def test_vgg_xla_and_cpu_kernels_agree_on_features_and_gradients(full_width_weights, pooling):
  """Every layer kind, up to conv5_1 (512 channels; Winograd F(4x4) on the CPU path),
  on a 40x36 image (odd sizes at the deep layers): features, the input gradient of a
  loss over several layers, and a kernel gradient."""
  w = full_width_weights
  layers = ("relu1_2", "pool2", "conv3_1", "relu4_1", "conv4_4", "conv5_1")
  image = jnp.asarray(random_image(36, 40, seed=1))[None]
  out = {}
  for kernels in ("xla", "cpu"):
    fn = features_lib.feature_fn(w.widths, w.preprocessing, pooling, kernels=kernels)
    variables = features_lib.network_variables(w, kernels)
    assert ("derived" in variables) == (kernels == "cpu")

    def loss(x, v, fn=fn):
      feats = fn(v, x, layers)
      return sum(jnp.sum(jnp.sin(f / (1 + jnp.abs(f).mean()))) for f in feats.values())

    feats = jax.jit(fn, static_argnums=2)(variables, image, layers)
    grad_x, grad_v = jax.jit(jax.grad(loss, argnums=(0, 1)))(image, variables)
    out[kernels] = feats, grad_x, grad_v["params"]["conv4_2"]["kernel"]
  for layer in layers:
    assert _rel(out["cpu"][0][layer], out["xla"][0][layer]) < 1e-4, layer
  assert _rel(out["cpu"][1], out["xla"][1]) < 1e-3
  assert _rel(out["cpu"][2], out["xla"][2]) < 1e-3
  assert np.abs(np.asarray(out["xla"][1])).max() > 0


@pytest.mark.slow
def test_cpu_kernels_below_float32_are_the_plain_convolutions(full_width_weights):
  """Winograd is never used below float32: at bfloat16 the CPU and XLA kernels give the
  same features (here Winograd F(4x4) would differ by far more)."""
  w, image = full_width_weights, jnp.asarray(random_image(32, 32, seed=5))[None]
  feats = {k: features_lib.extract_features(image, ["conv5_1"], weights=w, kernels=k,
                                            precision="bfloat16")["conv5_1"]
           for k in ("xla", "cpu")}
  assert _rel(feats["cpu"], feats["xla"]) < 1e-6
