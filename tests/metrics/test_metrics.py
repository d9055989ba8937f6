"""jaxstyle.metrics: the benchmark's judges, on tiny random networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle import features as features_lib
from jaxstyle import metrics
from jaxstyle.metrics import lpips
from jaxstyle.weights import lpips as lpips_weights

TINY = {"vgg16": (4, 6, 8, 8, 8), "alexnet": (6, 8, 8, 8, 8)}


@pytest.fixture(scope="module")
def networks():
  return {name: jaxstyle.weights.random_weights(network=name, seed=2, widths=w) for name, w in TINY.items()}


@pytest.fixture(scope="module")
def lpips_tiny(networks):
  return {"alex": lpips.lpips_params("alex", trunk=networks["alexnet"],
                                     heads=lpips_weights.random_heads("alex", widths=TINY["alexnet"])),
          "vgg": lpips.lpips_params("vgg", trunk=networks["vgg16"],
                                    heads=lpips_weights.random_heads("vgg", widths=TINY["vgg16"]))}


def photo(h=48, w=56):
  """A smooth 'photo': gradients in each channel."""
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  return np.stack([yy, xx, 0.5 * (yy + xx)], -1).astype(np.float32)


def painting(h=52, w=44, seed=1):
  """A 'painting': coloured stripes with grain, statistics far from `photo`'s."""
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  stripes = np.sin(40 * xx + 10 * yy)[..., None] * np.float32([0.5, -0.5, 0.3])
  grain = 0.1 * np.random.default_rng(seed).normal(size=(h, w, 3))
  return np.clip(0.5 + stripes + grain, 0, 1).astype(np.float32)


def noisy(image, std, seed=0):
  rng = np.random.default_rng(seed)
  return np.clip(image + std * rng.normal(size=image.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("network", metrics.CONTENT_NETWORKS)
def test_content_distance_is_zero_for_the_photo_and_grows_with_noise(lpips_tiny, network):
  content = photo()
  outputs = np.stack([content, noisy(content, 0.03), noisy(content, 0.3)])
  d = metrics.content_distance(outputs, content, network=network, weights=lpips_tiny[network])
  assert d.shape == (3,)
  assert abs(d[0]) < 1e-6 and d[0] < d[1] < d[2], d


def test_content_distance_needs_one_size(lpips_tiny):
  with pytest.raises(ValueError, match="one size"):
    metrics.content_distance(photo(48, 56)[None], photo(48, 60), weights=lpips_tiny["alex"])
  with pytest.raises(ValueError, match="RGB images"):
    metrics.content_distance(photo()[..., :2], photo(), weights=lpips_tiny["alex"])
  with pytest.raises(ValueError, match="content network"):
    metrics.content_distance(photo(), photo(), network="vgg19")


@pytest.mark.slow
def test_style_judges_are_zero_for_the_style_image_and_larger_for_the_photo(
    networks, lpips_tiny):
  """Every style judge: ~0 for the style image itself (its own statistics), clearly
  positive for a photo of other statistics (its size differs from the style's)."""
  style = painting()
  outputs = np.stack([photo(52, 44), style])  # The photo at the style's size, for batching.
  values = metrics.judge(outputs, photo(52, 44), style, networks=networks,
                         lpips_weights=lpips_tiny)
  assert set(values) == set(metrics.JUDGES)
  for name in metrics.STYLE_JUDGES:
    v = values[name]
    assert v.shape == (2,) and np.all(np.isfinite(v))
    assert v[0] > 0 and abs(v[1]) <= 1e-4 * v[0], (name, v)
  # Content judges: 0 for the photo, positive for the painting.
  for name in metrics.CONTENT_JUDGES:
    assert abs(values[name][0]) < 1e-6 < values[name][1]


# The judges' style layers, as the module docstring names them.
STYLE_LAYERS = {"vgg16": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
                "alexnet": ("conv1", "conv2", "conv3", "conv4", "conv5")}


def _np_distance(distance, x, s, key):
  """One layer's distance in float64 NumPy, from the formulas (losses.style_distance's
  docstring): x [M, C] the output's features, s [M_s, C] the style's."""
  m, c = x.shape
  if distance == "gram":  # sum (G/M - A)^2 / (4 C^2), G = F^T F, A per position.
    return np.sum(np.square(x.T @ x / m - s.T @ s / len(s))) / (4 * c**2)
  if distance == "mean_cov":  # W2^2 of the fitted Gaussians.
    mu_x, mu_s = x.mean(0), s.mean(0)
    cov_x, cov_s = np.cov(x.T, bias=True), np.cov(s.T, bias=True)
    w, v = np.linalg.eigh(cov_s)
    root_s = (v * np.sqrt(np.maximum(w, 0))) @ v.T
    middle = np.linalg.eigvalsh(root_s @ cov_x @ root_s)
    return (np.sum(np.square(mu_x - mu_s)) + np.trace(cov_x) + np.trace(cov_s)
            - 2 * np.sum(np.sqrt(np.maximum(middle, 0))))
  # Sliced Wasserstein: C unit directions drawn from the key (normal draws, normalized);
  # sorted projections against the style's sorted ones read at M evenly spaced ranks.
  d = np.asarray(jax.random.normal(key, (c, c), jnp.float32), np.float64)
  d /= np.linalg.norm(d, axis=1, keepdims=True)
  px, ps = np.sort(x @ d.T, axis=0), np.sort(s @ d.T, axis=0)
  ranks = np.linspace(0, len(s) - 1, m)
  q = np.stack([np.interp(ranks, np.arange(len(s)), ps[:, k]) for k in range(c)], 1)
  return np.mean(np.square(px - q))


def _np_style_distance(outputs, style, network, distance, weights):
  """metrics.style_distance from its definition: the mean over the network's style
  layers, the style at its own size; the sliced-Wasserstein directions from the fixed
  key folded with the layer index. Features from `features.extract_features` (checked
  against NumPy networks in tests/nets/)."""
  layers = STYLE_LAYERS[network]
  fo = features_lib.extract_features(outputs, layers, weights=weights)
  fs = features_lib.extract_features(style[None], layers, weights=weights)
  out = np.zeros(len(outputs))
  for i, layer in enumerate(layers):
    s = np.asarray(fs[layer][0], np.float64).reshape(-1, fs[layer].shape[-1])
    key = jax.random.fold_in(jax.random.key(metrics.JUDGE_SEED), i)
    for n, f in enumerate(np.asarray(fo[layer], np.float64)):
      out[n] += _np_distance(distance, f.reshape(-1, f.shape[-1]), s, key) / len(layers)
  return out


@pytest.mark.parametrize("network", metrics.STYLE_NETWORKS)
@pytest.mark.slow
def test_style_distance_equals_the_formulas_and_the_two_step_form(networks, network):
  """Every distance against a NumPy reference written from the formulas, on outputs of
  another size than the style; the two-step form gives the same values."""
  style, outputs = painting(), np.stack([photo(), noisy(photo(), 0.2)])
  for distance in metrics.DISTANCES:
    one = metrics.style_distance(outputs, style, network=network, distance=distance,
                                 weights=networks[network])
    want = _np_style_distance(outputs, style, network, distance, networks[network])
    np.testing.assert_allclose(one, want, rtol=2e-3, err_msg=distance)
    assert one.shape == (2,) and np.all(one > 0) and one[0] != one[1]
    targets = metrics.style_targets(style, network=network, distance=distance,
                                    weights=networks[network])
    two = metrics.style_distances(outputs, targets, network=network, distance=distance,
                                  weights=networks[network])
    np.testing.assert_allclose(one, two, rtol=1e-6)


def test_sliced_wasserstein_judge_is_deterministic(networks):
  # The reference test's shapes: its compiled programs are reused.
  style, outputs = painting(), np.stack([noisy(photo(), 0.1), photo()])
  a, b = (metrics.style_distance(outputs, style, network="vgg16",
                                 distance="sliced_wasserstein", weights=networks["vgg16"])
          for _ in range(2))
  assert np.all(a > 0)
  np.testing.assert_array_equal(a, b)


def test_style_distance_errors(networks):
  with pytest.raises(ValueError, match="style network"):
    metrics.style_targets(painting(), network="vgg19")
  with pytest.raises(ValueError, match="style distance"):
    metrics.style_targets(painting(), network="vgg16", distance="histogram")
  with pytest.raises(ValueError, match="weights are alexnet"):
    metrics.style_targets(painting(), network="vgg16", weights=networks["alexnet"])
  with pytest.raises(ValueError, match="unknown judge"):
    metrics.judge(photo()[None], photo(), painting(), judges=["style/gram_vgg19"])


def test_independence_rule():
  assert not metrics.independent("style/gram_vgg16", "vgg16", "gram")
  assert not metrics.independent("style/gram_vgg16", "vgg16", "histogram")  # Gram + hist.
  assert not metrics.independent("style/mean_cov_alexnet", "alexnet", "mean_cov")
  assert not metrics.independent("style/sw_vgg16", "vgg16", "sliced_wasserstein")
  assert metrics.independent("style/gram_vgg16", "vgg19", "gram")  # Another network.
  assert metrics.independent("style/gram_alexnet", "vgg16", "gram")
  assert metrics.independent("style/mean_cov_vgg16", "vgg16", "gram")  # Another distance.
  assert metrics.independent("style/sw_vgg16", "vgg16", "histogram")
  for name in metrics.CONTENT_JUDGES:
    for network in ("vgg19", "vgg16", "alexnet"):
      assert metrics.independent(name, network, "gram")
  # Every VGG-19 run is judged only independently (no judge runs VGG-19).
  assert all(metrics.independent(j, "vgg19", l) for j in metrics.JUDGES
             for l in metrics.OPTIMIZED_DISTANCES)
  with pytest.raises(ValueError, match="unknown judge"):
    metrics.independent("style/gram_vgg19", "vgg19", "gram")
  with pytest.raises(ValueError, match="unknown style loss"):
    metrics.independent("style/gram_vgg16", "vgg16", "wasserstein")


def test_rank_metrics_orders_as_documented():
  m = {"content/lpips_alex": [0.3, 0.1, 0.2, 0.1],
       # Two style judges on scales 1000x apart: each is divided by its median.
       "style/gram_vgg16": [1000.0, 4000.0, 2000.0, 3000.0],   # median 2500
       "style/sw_vgg16": [4.0, 1.0, 2.0, 3.0]}                 # median 2.5
  np.testing.assert_array_equal(metrics.rank_metrics(m, "lpips"), [1, 3, 2, 0])  # Ties: order.
  score = metrics.style_score(m)
  expected = (np.array([1000, 4000, 2000, 3000]) / 2500 + np.array([4, 1, 2, 3]) / 2.5) / 2
  np.testing.assert_allclose(score, expected)
  np.testing.assert_array_equal(metrics.rank_metrics(m, "style"), np.argsort(expected))
  # Scaling one judge changes nothing.
  scaled = dict(m, **{"style/gram_vgg16": [v * 1e6 for v in m["style/gram_vgg16"]]})
  np.testing.assert_array_equal(metrics.rank_metrics(scaled, "style"),
                                metrics.rank_metrics(m, "style"))
  with pytest.raises(ValueError, match="by must be"):
    metrics.rank_metrics(m, "content")


def test_rank_judges_then_orders(networks, lpips_tiny):
  content, style = photo(), painting()
  outputs = np.stack([noisy(content, 0.3, 1), content, noisy(content, 0.05, 2)])
  order, values = metrics.rank(outputs, content, style, by="lpips", networks=networks,
                               lpips_weights=lpips_tiny,
                               judges=["content/lpips_alex", "style/gram_alexnet"])
  np.testing.assert_array_equal(order, [1, 2, 0])
  assert set(values) == {"content/lpips_alex", "style/gram_alexnet"}
  order, _ = metrics.rank(outputs, content, style, by="style", networks=networks,
                          lpips_weights=lpips_tiny,
                          judges=["content/lpips_alex", "style/gram_alexnet"])
  np.testing.assert_array_equal(order, np.argsort(values["style/gram_alexnet"], kind="stable"))
