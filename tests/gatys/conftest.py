"""Helpers shared by the tests of jaxstyle.gatys."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from tests.conftest import random_image


def quadratic(x, target, scale):
  """An ill-conditioned quadratic with the (loss, components) signature."""
  d = x - target
  value = 0.5 * jnp.sum(scale * d * d)
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


@pytest.fixture
def problem():
  """x0 [2, 6, 5, 3] (two seeds) and the arguments (target, scale) of `quadratic`."""
  rng = np.random.default_rng(0)
  target = rng.normal(size=(6, 5, 3)).astype(np.float32)
  scale = np.exp(rng.uniform(-2, 2, size=target.shape)).astype(np.float32)
  x0 = rng.normal(size=(2,) + target.shape).astype(np.float32)
  return x0, (jnp.asarray(target), jnp.asarray(scale))


def smooth_image(h, w, seed):
  """Low-frequency colors: something content and style losses can both describe."""
  rng = np.random.default_rng(seed)
  small = rng.uniform(size=(4, 4, 3)).astype(np.float32)
  return jaxstyle.images.resize_to(small, h, w)


@pytest.fixture(scope="module")
def pair():
  """A smooth content image (32 x 40) and a random style image (32 x 32)."""
  return smooth_image(32, 40, 0), random_image(32, 32, 1)
