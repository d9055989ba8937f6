"""jaxstyle.kernels.arbitrary_cpu: the arbitrary-style networks' CPU layers compute the
same networks."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.kernels import arbitrary_cpu, johnson_cpu
from jaxstyle.nets import arbitrary as nets
from jaxstyle.weights import arbitrary as weights_lib

from tests.conftest import random_image


@functools.cache
def _apply(module):
  """`module.apply`, jitted: one compile per shape instead of one per operation (eager
  dispatch of these networks took twice as long)."""
  return jax.jit(module.apply)


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.mark.slow
def test_cpu_kernels_compute_the_same_network(weights):
  styles = jnp.asarray(np.stack([random_image(33, 40, seed=s) for s in (0, 1)]))
  params = {"params": weights.predictor}
  np.testing.assert_allclose(
      _apply(nets.StylePredictor(conv=arbitrary_cpu.SameConv))(params, styles),
      _apply(nets.StylePredictor())(params, styles), atol=2e-5)
  # 36x44 and 30x37 (padded to 32x40): every layer's form, the 9x9 ones on 4x4 blocks
  # of a side that is and one that is not a multiple of 8.
  for (h, w), seed in (((36, 44), 2), ((30, 37), 3)):
    x = jnp.asarray(random_image(h, w, seed=seed)[None])
    s = jnp.asarray(np.random.default_rng(seed).normal(size=(1, nets.STYLE_DIM)), jnp.float32)
    params = {"params": weights.transformer}
    xla = _apply(nets.StyleTransformer())(params, x, s)
    for conv in (arbitrary_cpu.ReflectConv, johnson_cpu.ReflectConv):
      cpu = _apply(nets.StyleTransformer(conv=conv))(params, x, s)
      np.testing.assert_allclose(cpu, xla, atol=2e-5, err_msg=conv.__module__)
