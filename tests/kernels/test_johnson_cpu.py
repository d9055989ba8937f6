"""jaxstyle.kernels.johnson_cpu: the feed-forward network's CPU convolutions equal the
direct ones, alone and in the network (outputs and parameter gradients)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.johnson import models
from jaxstyle.kernels import johnson_cpu
from jaxstyle.nets import johnson as transformer

from tests.conftest import random_image


def _direct_conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("cin, cout", [(3, 8), (8, 3)])
def test_large_kernel_convolutions_equal_the_direct_one(cin, cout):
  """The 9x9 input (im2col) and output (shifted sums) layers compute the same VALID
  convolution, at odd sizes too."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 19, 14, cin)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(9, 9, cin, cout)), jnp.float32)
  fast = johnson_cpu.conv_wide_in if cin < cout else johnson_cpu.conv_wide_out
  np.testing.assert_allclose(fast(x, kernel), _direct_conv(x, kernel), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("h, w", [(6, 5), (1, 3)])
def test_upsample_conv_equals_conv_of_the_upsampled_image(h, w):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  up = transformer.upsample_nearest(x)
  padded = jnp.pad(up, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  np.testing.assert_allclose(johnson_cpu.upsample_conv(x, kernel), _direct_conv(padded, kernel),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h, w", [(8, 8), (5, 7), (2, 3), (1, 4)])
def test_reflect_conv3x3_equals_the_valid_convolution_of_the_padded_image(h, w):
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  padded = transformer.reflect_pad(x, 1)
  np.testing.assert_allclose(johnson_cpu.reflect_conv3x3(x, kernel),
                             _direct_conv(padded, kernel), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h, w", [(10, 10), (9, 12), (3, 3)])
def test_blocked_stride2_convolution_equals_the_strided_one(h, w):
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  want = jax.lax.conv_general_dilated(x, kernel, (2, 2), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(johnson_cpu.conv_stride2(x, kernel), want, rtol=1e-4, atol=1e-4)


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("norm,upsample", [("instance", "nearest"), ("batch", "transpose")])
@pytest.mark.slow
def test_fast_network_xla_and_cpu_kernels_agree_on_outputs_and_parameter_gradients(norm,
                                                                                  upsample):
  """The real widths (32, 64, 128) on an odd-sized batch: every CPU form (blocked 9x9
  layers, stride-2 on blocks, border-recomputed 3x3, low-resolution upsample+conv,
  per-image kernel gradients) against plain XLA. One residual block of the five: each
  is the same layers, so one shows every form at a fifth of the compile time."""
  config = transformer.ImageTransformConfig(norm=norm, upsample=upsample, num_residual=1)
  variables = transformer.init_variables(config, seed=1)
  x = jnp.asarray(np.stack([random_image(19, 22, seed=s) for s in range(2)]))
  results = {}
  for kernels in ("xla", "cpu"):
    def loss(params, kernels=kernels):
      out, _, _ = models.apply_train(config, dict(variables, params=params), x,
                                     kernels=kernels)
      return jnp.sum(jnp.square(out - 0.3)), out

    (value, out), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
    results[kernels] = out, grads
  assert results["xla"][0].shape == x.shape
  assert _rel(results["cpu"][0], results["xla"][0]) < 1e-4
  flat_cpu = jax.tree_util.tree_leaves_with_path(results["cpu"][1])
  flat_xla = dict(jax.tree_util.tree_leaves_with_path(results["xla"][1]))
  # Biases before an instance norm have zero gradient, up to rounding: errors are
  # measured against the larger of a leaf's own scale and 1% of the largest gradient.
  scale = max(float(np.abs(np.asarray(g)).max()) for g in flat_xla.values())
  for path, g in flat_cpu:
    want = np.asarray(flat_xla[path])
    err = np.abs(np.asarray(g) - want).max()
    name = jax.tree_util.keystr(path)
    assert err <= 2e-3 * max(np.abs(want).max(), 1e-2 * scale), name
    if name.endswith("['kernel']"):  # Every convolution takes part.
      assert np.abs(want).max() > 1e-3 * scale, name
