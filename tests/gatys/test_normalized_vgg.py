"""The paper's normalized VGG-19 (jaxstyle.gatys.normalized_vgg)."""

import numpy as np
import pytest

from jaxstyle import extract_features
from jaxstyle.gatys import normalized_vgg as normalize
from tests.conftest import random_image


def _per_channel_ratio(original: dict, normalized: dict, layers) -> dict:
  """original / normalized per channel (least squares over positions)."""
  out = {}
  for l in layers:
    o = np.asarray(original[l], np.float64).reshape(-1, original[l].shape[-1])
    n = np.asarray(normalized[l], np.float64).reshape(-1, normalized[l].shape[-1])
    out[l] = np.sum(o * n, 0) / np.maximum(np.sum(n * n, 0), 1e-30)
  return out

ALL = normalize.RELU_LAYERS + tuple("conv" + r[4:] for r in normalize.RELU_LAYERS) + (
    "pool1", "pool3", "pool5")


@pytest.fixture(scope="module")
def photos():
  return [random_image(40, 48, s) for s in range(3)] + [random_image(32, 32, 9)]


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.slow
def test_features_are_rescaled_per_channel_and_mean_one(tiny_weights, photos, pooling):
  normalized = normalize.normalize(tiny_weights, photos, pooling="avg")
  probe = random_image(40, 40, 5)[None]
  before = extract_features(probe, ALL, weights=tiny_weights, pooling=pooling)
  after = extract_features(probe, ALL, weights=normalized, pooling=pooling)
  ratios = _per_channel_ratio(before, after, ALL)
  for layer in ALL:
    b, a = np.asarray(before[layer], np.float64), np.asarray(after[layer], np.float64)
    c = ratios[layer]
    live = np.abs(a).reshape(-1, a.shape[-1]).max(0) > 0
    assert np.all(c[live] > 0), layer
    np.testing.assert_allclose(b[..., live], a[..., live] * c[live], rtol=2e-3,
                               atol=1e-4 * np.abs(b).max(), err_msg=layer)
  if pooling == "avg":  # The pooling it was normalized with: mean activation 1.
    means = normalize.mean_activations(normalized, photos, pooling="avg")
    for layer, m in means.items():
      alive = m > 0
      np.testing.assert_allclose(m[alive], 1.0, rtol=1e-3, err_msg=layer)
  assert normalized.meta["normalization"]["pooling"] == "avg"
