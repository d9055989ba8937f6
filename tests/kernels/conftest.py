"""Helpers shared by the tests of jaxstyle.kernels."""

import jax
import jax.numpy as jnp
import numpy as np


def direct_conv(x, kernel):
  """The 3x3 SAME convolution as XLA computes it, at the highest precision."""
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision=jax.lax.Precision.HIGHEST)


def conv_arrays(shape, cin, cout, seed=0):
  """An input [N, H, W, cin], a 3x3 kernel and an output gradient [N, H, W, cout]."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal(shape + (cin,)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin), jnp.float32)
  g = jnp.asarray(rng.standard_normal(shape + (cout,)), jnp.float32)
  return x, kernel, g
