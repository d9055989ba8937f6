"""Helpers shared by the tests of jaxstyle.nets (and the arbitrary-style package's)."""

import functools

import jax
import numpy as np

from jaxstyle.nets import arbitrary as nets


@functools.cache
def jitted_apply(module):
  """`module.apply`, jitted: one compile per shape instead of one per operation (eager
  dispatch of these networks took twice as long)."""
  return jax.jit(module.apply)


def predict_style(weights, x):
  """The arbitrary-style predictor's style vectors of images x [N, H, W, 3]."""
  return np.asarray(jitted_apply(nets.StylePredictor())({"params": weights.predictor}, x))
