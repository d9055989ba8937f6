"""jaxstyle.metrics.lpips: LPIPS on tiny random networks against its formula, and on the
real weights against the `lpips` package (recorded by benchmarks/record_fixtures.py in
tests/fixtures/torch_lpips.json; torch is not a test dependency)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import record_fixtures
from jaxstyle.metrics import lpips as lpips_lib
from jaxstyle.weights import lpips as lpips_weights

from tests.conftest import TINY_WIDTHS, random_image
from tests.nets import references


def _np_lpips(trunk, heads, network, a, b):
  """LPIPS from its formula, on the NumPy trunks."""
  def features(x):
    x = ((2 * x - 1) - np.array(lpips_lib.SHIFT)) / np.array(lpips_lib.SCALE)
    return (references.np_alexnet if network == "alex" else
            lambda p, y: references.np_vgg16(p, y, "max"))(trunk.params, x)
  fa, fb = features(a), features(b)
  total = 0
  for layer in lpips_lib.LAYERS[network]:
    na = fa[layer] / (np.sqrt((fa[layer] ** 2).sum(-1, keepdims=True)) + 1e-10)
    nb = fb[layer] / (np.sqrt((fb[layer] ** 2).sum(-1, keepdims=True)) + 1e-10)
    total = total + ((na - nb) ** 2 @ heads[layer]).mean(axis=(1, 2))
  return total


@pytest.fixture(scope="module", params=["alex", "vgg"])
def tiny_lpips(request, tiny_trunks):
  network = request.param
  trunk = tiny_trunks[lpips_weights.LPIPS_TRUNKS[network]]
  heads = lpips_weights.random_heads(network, seed=2, widths=TINY_WIDTHS)
  return network, trunk, heads, lpips_lib.lpips_params(network, trunk=trunk, heads=heads)


def test_lpips_is_zero_symmetric_positive(tiny_lpips):
  network, _, _, params = tiny_lpips
  a = np.stack([random_image(64, 64, seed=s) for s in (5, 6)])
  b = np.stack([random_image(64, 64, seed=s) for s in (7, 8)])
  ab = lpips_lib.lpips(a, b, network=network, weights=params)
  assert ab.shape == (2,)
  np.testing.assert_allclose(lpips_lib.lpips(a, a, network=network, weights=params), 0,
                             atol=1e-6)
  np.testing.assert_allclose(lpips_lib.lpips(b, a, network=network, weights=params), ab,
                             rtol=1e-5)
  assert np.all(ab > 1e-3)


def test_lpips_equals_the_numpy_reference(tiny_lpips):
  """Two pairs [2, 64, 64, 3]: the shape of the test above (one compiled program)."""
  network, trunk, heads, params = tiny_lpips
  a = np.stack([random_image(64, 64, seed=s) for s in (9, 10)])
  b = np.clip(a + 0.2 * np.random.default_rng(0).normal(size=a.shape), 0, 1).astype(np.float32)
  got = lpips_lib.lpips(a, b, network=network, weights=params)
  np.testing.assert_allclose(got, _np_lpips(trunk, heads, network, a, b), rtol=1e-4)


def test_lpips_is_differentiable_and_jittable(tiny_lpips):
  network, _, _, params = tiny_lpips
  fn = lpips_lib.make_lpips_fn(network)
  a = random_image(64, 64, seed=10)[None]
  b = random_image(64, 64, seed=11)[None]
  grad = jax.jit(jax.grad(lambda x: fn(params, x, b).sum()))(a)
  assert grad.shape == a.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  # The gradient points uphill: a small step against it lowers the distance (both
  # distances in one [2, 64, 64, 3] call, the program of the tests above).
  step = a - 1e-2 * grad / np.abs(grad).max()
  before, after = lpips_lib.lpips(np.concatenate([a, step]), np.concatenate([b, b]),
                                  network=network, weights=params)
  assert after < before


def test_lpips_rejects_bad_inputs(tiny_lpips):
  network, _, _, params = tiny_lpips
  with pytest.raises(ValueError, match="of one shape"):
    lpips_lib.lpips(np.zeros((1, 64, 64, 3)), np.zeros((1, 64, 60, 3)), network=network,
                    weights=params)
  with pytest.raises(ValueError, match="unknown LPIPS network 'squeeze'"):
    lpips_lib.make_lpips_fn("squeeze")


TORCH_LPIPS = record_fixtures.read("torch_lpips.json")
# The README said 1e-7; 2.1e-7 was measured (float32 rounding of two programs).
LPIPS_ATOL = 1e-6


def _recorded_pairs():
  images = {k: record_fixtures.pixels(v) for k, v in TORCH_LPIPS["images"].items()}
  return (np.stack([images[a] for a, _ in TORCH_LPIPS["pairs"]]),
          np.stack([images[b] for _, b in TORCH_LPIPS["pairs"]]))


@pytest.mark.parametrize("network", ["alex", "vgg"])
def test_real_lpips_equals_the_lpips_package(real_lpips, network):
  """README: LPIPS within float32 rounding of a PyTorch implementation on the same
  weights: the `lpips` package's own LPIPS (recorded), on a photo against its blur, its
  noisy copy and a painting (64x64), in total and layer by layer (the other heads set to
  zero). Measured: at most 2.1e-7 apart (AlexNet, the blurred pair: 1e-6 relative; VGG-16
  6e-8), so 1e-6 here. Swapped heads, a missing normalization or input scaling move these
  by 1e-3 or more."""
  trunks, heads = real_lpips
  params = lpips_lib.lpips_params(
      network, trunk=trunks[lpips_weights.LPIPS_TRUNKS[network]], heads=heads[network])
  a, b = _recorded_pairs()
  recorded = TORCH_LPIPS["networks"][network]
  d = np.asarray(lpips_lib.lpips(a, b, network=network, weights=params))
  np.testing.assert_allclose(d, recorded["lpips"], rtol=0, atol=LPIPS_ATOL)
  # The photo is nearer its blur than its noisy copy or a painting.
  assert 0 < d[0] < min(d[1], d[2]), d
  for layer in lpips_lib.LAYERS[network]:
    only = {l: (h if l == layer else jnp.zeros_like(h)) for l, h in params["heads"].items()}
    got = lpips_lib.lpips(a, b, network=network, weights=dict(params, heads=only))
    np.testing.assert_allclose(got, recorded["per_layer"][layer], rtol=0, atol=LPIPS_ATOL,
                               err_msg=layer)
