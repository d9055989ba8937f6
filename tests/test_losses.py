"""jaxstyle.losses: the paper's losses against its formulas (Gatys, Ecker & Bethge, CVPR
2016), the style losses beside the Gram loss (style_statistics / style_distance)
against float64 NumPy written from their formulas, closed forms on Gaussians, finite
differences and vmap over images, and the Gram matrix's hand-written gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import losses
from tests.conftest import random_image

KINDS = losses.STYLE_LOSSES
KEY = jax.random.key(7)


@pytest.fixture
def x64():
  """Float64 for finite differences, set globally: the sorts' NumPy callbacks run on
  XLA's threads, which a thread-local `jax.enable_x64` context does not reach (they
  would see float32)."""
  previous = jax.config.jax_enable_x64
  jax.config.update("jax_enable_x64", True)
  try:
    yield
  finally:
    jax.config.update("jax_enable_x64", previous)


def _features(shape, seed, scale=None):
  """Correlated, offset features: x W + b, so that covariances are far from diagonal."""
  rng = np.random.default_rng(seed)
  c = shape[-1]
  mix = rng.normal(size=(c, c)) / np.sqrt(c) + np.eye(c)
  f = rng.normal(size=(int(np.prod(shape[:-1])), c)) @ mix + rng.normal(size=c)
  return f.reshape(shape).astype(np.float32)


def _distance(kind, f, target, key=KEY):
  return losses.style_distance(kind, f, target, key=key if kind == "sliced_wasserstein" else None)


# --- float64 NumPy references, from the formulas ---------------------------------------


def _flat(f):
  return np.asarray(f, np.float64).reshape(-1, f.shape[-1])


def _np_sqrtm_psd(a):
  w, v = np.linalg.eigh((a + a.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _np_gram_loss(f, s):
  f, s = _flat(f), _flat(s)
  c = f.shape[1]
  return np.sum((f.T @ f / len(f) - s.T @ s / len(s)) ** 2) / (4 * c**2)


def _np_w2(mu1, s1, mu2, s2):
  """Squared 2-Wasserstein distance between N(mu1, s1) and N(mu2, s2)."""
  r = _np_sqrtm_psd(s2)
  cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r @ s1 @ r), 0, None)))
  return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross


def _np_mean_cov(f, s):
  f, s = _flat(f), _flat(s)
  fc = f - f.mean(0)
  s_cov = np.cov(s.T, bias=True)
  # tr sqrt(S_s^1/2 S_x S_s^1/2) = ||F_c S_s^1/2 / sqrt(M)||_*, by SVD: exact also where
  # S_x is singular (eigenvalues of the product would leave sqrt(eps)-sized noise).
  cross = np.sum(np.linalg.svd(fc @ _np_sqrtm_psd(s_cov) / np.sqrt(len(f)), compute_uv=False))
  return (np.sum((f.mean(0) - s.mean(0)) ** 2) + np.sum(fc**2) / len(f) + np.trace(s_cov)
          - 2 * cross)


def _np_quantiles(sorted_values, m):
  """Sorted [N] read at m evenly spaced positions, min to min and max to max."""
  return np.interp(np.linspace(0, len(sorted_values) - 1, m), np.arange(len(sorted_values)),
                   sorted_values)


def _np_sliced_wasserstein(f, s, directions):
  d = np.asarray(directions, np.float64)  # [K, C]
  pf, ps = _flat(f) @ d.T, _flat(s) @ d.T  # [M, K], [M_s, K]
  m = len(pf)
  diffs = [np.sort(pf[:, k]) - _np_quantiles(np.sort(ps[:, k]), m) for k in range(len(d))]
  return np.mean(np.square(diffs))


def _np_histogram_remap(f, s_sorted):
  """Each channel's value replaced by the target's quantile at its rank (Risser et al.)."""
  f = _flat(f)
  out = np.empty_like(f)
  for c in range(f.shape[1]):
    ranks = np.argsort(np.argsort(f[:, c]))
    out[:, c] = _np_quantiles(s_sorted[:, c], len(f))[ranks]
  return out


def _np_histogram(f, s):
  remap = _np_histogram_remap(f, np.sort(_flat(s), axis=0))
  return _np_gram_loss(f, s) + np.mean((_flat(f) - remap) ** 2)


def _np_reference(kind, f, s, key=KEY):
  if kind == "gram":
    return _np_gram_loss(f, s)
  if kind == "mean_cov":
    return _np_mean_cov(f, s)
  if kind == "sliced_wasserstein":
    # The library's float32 draws, normalized in float64 (as the loss does on float64).
    d = np.asarray(jax.random.normal(key, (f.shape[-1],) * 2, jnp.float32), np.float64)
    return _np_sliced_wasserstein(f, s, d / np.linalg.norm(d, axis=-1, keepdims=True))
  return _np_histogram(f, s)


# --- values ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes", [((6, 5, 4), (7, 4, 4)),    # M = 30 > C, M_s = 28.
                                    ((2, 3, 8), (4, 5, 8)),    # M = 6 < C = 8.
                                    ((2, 4, 8), (3, 3, 8))])   # M = C.
def test_matches_numpy_reference(kind, shapes):
  f, s = _features(shapes[0], 0), _features(shapes[1], 1)
  target = jax.jit(losses.style_statistics, static_argnums=0)(kind, s)
  expected = _np_reference(kind, f, s)
  got = jax.jit(_distance, static_argnums=0)(kind, jnp.asarray(f), target)
  assert got.dtype == jnp.float32 and got.shape == ()
  np.testing.assert_allclose(got, expected, rtol=2e-5)
  np.testing.assert_allclose(_distance(kind, f, losses.style_statistics(kind, s)), expected,
                             rtol=2e-5)


def test_statistics_are_the_documented_ones():
  s = _features((7, 4, 4), 1)
  flat = _flat(s)
  mc = losses.style_statistics("mean_cov", s)
  cov = np.cov(flat.T, bias=True)
  np.testing.assert_allclose(mc["mean"], flat.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(mc["cov"], cov, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(mc["cov_sqrt"], _np_sqrtm_psd(cov), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(losses.style_statistics("gram", s), flat.T @ flat / 28, rtol=1e-5)
  hist = losses.style_statistics("histogram", s)
  np.testing.assert_array_equal(hist["quantiles"], np.sort(s.reshape(-1, 4), axis=0))
  np.testing.assert_allclose(hist["gram"], flat.T @ flat / 28, rtol=1e-5)
  np.testing.assert_array_equal(losses.style_statistics("sliced_wasserstein", s)["features"],
                                s.reshape(-1, 4))


def test_histogram_with_fewer_quantiles():
  f, s = _features((6, 5, 4), 0), _features((12, 10, 4), 1)
  target = losses.style_statistics("histogram", s, num_quantiles=9)
  assert target["quantiles"].shape == (9, 4)
  q = np.stack([_np_quantiles(col, 9) for col in np.sort(_flat(s), axis=0).T], axis=1)
  np.testing.assert_allclose(target["quantiles"], q, rtol=1e-5, atol=1e-6)
  expected = _np_gram_loss(f, s) + np.mean((_flat(f) - _np_histogram_remap(f, q)) ** 2)
  np.testing.assert_allclose(losses.style_distance("histogram", f, target), expected, rtol=2e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_for_the_targets_statistics_positive_otherwise(kind):
  f = _features((6, 5, 4), 0)
  scale = float(np.trace(np.cov(_flat(f).T)))  # The losses' units: squared features.
  same = _distance(kind, f, losses.style_statistics(kind, f))
  assert 0.0 <= float(same) <= 1e-6 * scale**2
  if kind in ("sliced_wasserstein", "histogram", "mean_cov"):
    # Statistics of a spatial permutation of the same features (and another shape).
    flat = f.reshape(-1, 4)
    shuffled = flat[np.random.default_rng(3).permutation(len(flat))].reshape(5, 6, 4)
    permuted = _distance(kind, f, losses.style_statistics(kind, shuffled))
    assert 0.0 <= float(permuted) <= 1e-6 * scale**2
  other = _distance(kind, f, losses.style_statistics(kind, _features((7, 4, 4), 1)))
  assert float(other) > 1e-3 * scale ** (2 if kind == "gram" else 1)


# --- mean_cov: Gaussians' closed forms ------------------------------------------------


def _with_statistics(shape, mean, cov, seed):
  """Features [H, W, C] whose empirical mean and covariance (over M) are exactly these."""
  rng = np.random.default_rng(seed)
  m, c = int(np.prod(shape[:-1])), shape[-1]
  z = rng.normal(size=(m, c))
  z -= z.mean(0)
  z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / m)).T  # Exactly white.
  return (mean + z @ np.linalg.cholesky(cov).T).reshape(shape)


def _random_cov(c, seed):
  a = np.random.default_rng(seed).normal(size=(c, 2 * c))
  return a @ a.T / (2 * c) + 0.1 * np.eye(c)


def test_mean_cov_is_the_gaussians_w2():
  c = 5
  mu1, mu2 = np.random.default_rng(10).normal(size=(2, c))
  s1, s2 = _random_cov(c, 11), _random_cov(c, 12)
  assert np.abs(s1 @ s2 - s2 @ s1).max() > 0.1  # Not commuting.
  f = _with_statistics((8, 9, c), mu1, s1, 0).astype(np.float32)  # M = 72.
  s = _with_statistics((10, 11, c), mu2, s2, 1).astype(np.float32)
  got = losses.style_distance("mean_cov", f, losses.style_statistics("mean_cov", s))
  # Fails for covariances divided by M - 1 (1.4% here), a missing factor 2, or
  # tr(S_x^1/2 S_s^1/2) in place of the trace of the sandwiched root.
  np.testing.assert_allclose(got, _np_w2(mu1, s1, mu2, s2), rtol=1e-4)


def test_mean_cov_commuting_covariances():
  c = 6
  rng = np.random.default_rng(20)
  mu1, mu2 = rng.normal(size=(2, c))
  v1, v2 = rng.uniform(0.2, 3.0, size=(2, c))
  f = _with_statistics((9, 7, c), mu1, np.diag(v1), 2).astype(np.float32)
  s = _with_statistics((6, 6, c), mu2, np.diag(v2), 3).astype(np.float32)
  got = losses.style_distance("mean_cov", f, losses.style_statistics("mean_cov", s))
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_mean_cov_of_gaussian_samples():
  c = 3
  mu1, mu2 = np.array([0.5, -1.0, 2.0]), np.array([-0.5, 0.0, 1.0])
  s1, s2 = _random_cov(c, 30), 2.0 * _random_cov(c, 31)
  rng = np.random.default_rng(32)
  f = rng.multivariate_normal(mu1, s1, size=(200, 200)).astype(np.float32)
  s = rng.multivariate_normal(mu2, s2, size=(150, 150)).astype(np.float32)
  got = losses.style_distance("mean_cov", f, losses.style_statistics("mean_cov", s))
  expected = _np_w2(mu1, s1, mu2, s2)  # 2.5; 40000 samples estimate it to ~0.5%.
  np.testing.assert_allclose(got, expected, rtol=0.03)


def _value_and_grad_mean_cov(f, target):
  return jax.jit(jax.value_and_grad(
      lambda f: losses.style_distance("mean_cov", f, target)))(jnp.asarray(f))


@pytest.mark.slow
def test_mean_cov_finite_for_singular_covariances():
  # conv5_1-like: 192 positions < 512 channels, so rank(S_x) <= 191.
  f = np.maximum(_features((12, 16, 512), 40), 0.0)
  s = np.maximum(_features((32, 40, 512), 41), 0.0)  # 1280 positions: full rank.
  value, grad = _value_and_grad_mean_cov(f, losses.style_statistics("mean_cov", s))
  assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  np.testing.assert_allclose(value, _np_mean_cov(f, s), rtol=1e-3)

  # At the optimum (S_x = S_s, both singular).
  value, grad = _value_and_grad_mean_cov(f, losses.style_statistics("mean_cov", f))
  scale = np.trace(np.cov(_flat(f).T))
  assert np.isfinite(value) and 0.0 <= float(value) <= 1e-4 * scale
  assert np.all(np.isfinite(grad))

  # Constant features, S_x = 0: W2 = ||mu_x - mu_s||^2 + tr(S_s).
  for shape, target in (((12, 16, 512), s), ((8, 8, 4), _features((7, 4, 4), 1))):
    const = np.full(shape, 0.3, np.float32)
    value, grad = _value_and_grad_mean_cov(const, losses.style_statistics("mean_cov", target))
    flat_t = _flat(target)
    expected = np.sum((0.3 - flat_t.mean(0)) ** 2) + np.trace(np.cov(flat_t.T, bias=True))
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, expected, rtol=1e-4)


def test_mean_cov_gradient_vanishes_at_a_full_rank_optimum():
  f = _features((16, 16, 8), 0)
  _, grad = _value_and_grad_mean_cov(f, losses.style_statistics("mean_cov", f))
  away = _features((16, 16, 8), 1)
  _, grad_away = _value_and_grad_mean_cov(away, losses.style_statistics("mean_cov", f))
  assert np.abs(grad).max() < 1e-3 * np.abs(grad_away).max()


# --- gradients -------------------------------------------------------------------------


def _check_gradient(value, x, eps=1e-6, rtol=1e-5):
  """value's gradient at x equals central differences: along a random direction and at
  the three largest entries. value and its gradient are jitted (op by op, each small
  operation would compile on its own)."""
  value = jax.jit(value)
  grad = np.asarray(jax.jit(jax.grad(value))(x))
  direction = np.random.default_rng(0).normal(size=x.shape)
  numeric = (value(x + eps * direction) - value(x - eps * direction)) / (2 * eps)
  np.testing.assert_allclose(numeric, np.sum(grad * direction), rtol=rtol)
  for idx in np.argsort(np.abs(grad).ravel())[-3:]:  # Where the gradient is large.
    e = np.zeros(x.size)
    e[idx] = 1.0
    e = e.reshape(x.shape)
    numeric = (value(x + eps * e) - value(x - eps * e)) / (2 * eps)
    np.testing.assert_allclose(numeric, grad.ravel()[idx], rtol=rtol)


@pytest.mark.parametrize("kind", ["mean_cov", "sliced_wasserstein", "histogram"])
@pytest.mark.parametrize("shapes", [((6, 5, 4), (7, 4, 4)), ((2, 3, 8), (4, 5, 8))])
@pytest.mark.slow
def test_finite_difference_gradient(kind, shapes, x64):
  f, s = _features(shapes[0], 0), _features(shapes[1], 1)
  statistics = jax.jit(lambda s: losses.style_statistics(kind, s))
  target = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                        statistics(jnp.asarray(s, jnp.float64)))
  value = jax.jit(lambda x: _distance(kind, x, target))

  x = jnp.asarray(f, jnp.float64)
  assert value(x).dtype == jnp.float64
  # sliced_wasserstein's directions are float32 draws (so float32 and float64 runs see
  # the same ones), which XLA rounds differently inside another program (measured 3e-8
  # of the value): 1e-6 for it, far below what a wrong sort or resampling gives.
  np.testing.assert_allclose(value(x), _np_reference(kind, f, s),
                             rtol=1e-6 if kind == "sliced_wasserstein" else 1e-10)
  _check_gradient(value, x)


def test_histogram_gradient_is_the_remaps():
  f, s = _features((6, 5, 4), 0), _features((7, 4, 4), 1)
  target = losses.style_statistics("histogram", s)
  grad = jax.grad(lambda x: losses.style_distance("histogram", x, target))(jnp.asarray(f))
  gram_grad = jax.grad(lambda x: losses.style_distance("gram", x, target["gram"]))(
      jnp.asarray(f))
  remap = _np_histogram_remap(f, np.sort(_flat(s), axis=0))
  expected = 2 * (_flat(f) - remap) / f.size  # d/dF mean (F - stop_gradient(R(F)))^2.
  np.testing.assert_allclose(np.asarray(grad - gram_grad).reshape(-1, 4), expected,
                             rtol=1e-4, atol=1e-7)


# --- sliced_wasserstein's directions ---------------------------------------------------


def test_random_directions_are_unit_and_keyed():
  d = np.asarray(losses.random_directions(KEY, 16))
  assert d.shape == (16, 16)
  np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(d, losses.random_directions(KEY, 16))
  assert np.abs(d - np.asarray(losses.random_directions(jax.random.key(8), 16))).max() > 0.1
  assert losses.random_directions(KEY, 16, 3).shape == (3, 16)


def test_sliced_wasserstein_keys():
  f, s = _features((6, 5, 4), 0), _features((7, 4, 4), 1)
  target = losses.style_statistics("sliced_wasserstein", s)
  a = losses.style_distance("sliced_wasserstein", f, target, key=jax.random.key(1))
  b = losses.style_distance("sliced_wasserstein", f, target, key=jax.random.key(2))
  assert float(a) == float(losses.style_distance("sliced_wasserstein", f, target,
                                                 key=jax.random.key(1)))
  assert abs(float(a) - float(b)) > 1e-3 * float(a)
  raw = jax.random.PRNGKey(1)  # A raw uint32 key draws the same directions.
  np.testing.assert_allclose(
      losses.style_distance("sliced_wasserstein", f, target, key=raw), a, rtol=1e-6)
  with pytest.raises(ValueError, match="key"):
    losses.style_distance("sliced_wasserstein", f, target)


# --- the sort implementations ------------------------------------------------------------


def test_sort_implementations_agree():
  rng = np.random.default_rng(5)
  values = jnp.asarray(rng.normal(size=(3, 50)), jnp.float32)
  quantiles = jnp.asarray(np.sort(rng.normal(size=(3, 50)), axis=-1), jnp.float32)
  for impl in ("numpy", "xla"):
    np.testing.assert_array_equal(losses._sort_rows(values, impl), np.sort(values, axis=-1))
    remap = np.asarray(losses._remap_rows(values, quantiles, impl))
    ranks = np.argsort(np.argsort(np.asarray(values), axis=-1), axis=-1)
    np.testing.assert_array_equal(remap, np.take_along_axis(np.asarray(quantiles), ranks, -1))
  with pytest.raises(ValueError, match="numpy, xla"):
    losses._sort_rows(values, "radix")


# --- vmap over images ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_vmap_over_images(kind):
  batch = np.stack([_features((6, 5, 4), seed) for seed in range(3)])
  target = losses.style_statistics(kind, _features((7, 4, 4), 9))
  keys = jax.random.split(KEY, 3)

  def one(f, key):
    return losses.style_distance(kind, f, target,
                                 key=key if kind == "sliced_wasserstein" else None)

  values, grads = jax.jit(jax.vmap(jax.value_and_grad(one)))(jnp.asarray(batch), keys)
  for i in range(3):
    value, grad = jax.value_and_grad(one)(jnp.asarray(batch[i]), keys[i])
    np.testing.assert_allclose(values[i], value, rtol=1e-5)
    np.testing.assert_allclose(grads[i], grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max())
  assert len(set(np.asarray(values).tolist())) == 3


# --- errors ----------------------------------------------------------------------------


def test_unknown_kind_names_the_valid_ones():
  f = _features((4, 4, 3), 0)
  pattern = "gram, mean_cov, sliced_wasserstein, histogram"
  with pytest.raises(ValueError, match=f"'wasserstein'.*{pattern}"):
    losses.style_statistics("wasserstein", f)
  with pytest.raises(ValueError, match=pattern):
    losses.style_distance("wasserstein", f, None)


def test_bad_shapes_raise():
  f = _features((4, 4, 3), 0)
  with pytest.raises(ValueError, match=r"\[H, W, C\]"):
    losses.style_statistics("mean_cov", f.reshape(-1, 3))
  with pytest.raises(ValueError, match="channels"):
    losses.style_distance("mean_cov", f, losses.style_statistics("mean_cov", f[..., :2]))
  with pytest.raises(ValueError, match="channels"):
    losses.style_distance("histogram", f, losses.style_statistics("histogram", f[..., :2]))


def test_sequential_and_batched_eigh_agree_under_vmap():
  """The CPU backend's eigh (a loop over a vmapped batch, which cannot hang XLA:CPU) and
  the batched one give the same decomposition."""
  rng = np.random.default_rng(11)
  a = rng.normal(size=(3, 8, 8)).astype(np.float32)
  k = jnp.asarray(a @ a.transpose(0, 2, 1))
  w1, v1 = jax.jit(jax.vmap(lambda x: losses._eigh(x, "sequential")))(k)
  w2, v2 = jax.jit(jax.vmap(lambda x: losses._eigh(x, "batched")))(k)
  np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-5)
  # Eigenvectors up to sign: compare the projectors.
  np.testing.assert_allclose(np.einsum("bij,bkj->bik", v1, v1 * np.asarray(w1)[:, None]),
                             np.einsum("bij,bkj->bik", v2, v2 * np.asarray(w2)[:, None]),
                             rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="eigh implementation"):
    losses._eigh(k[0], "lapack")


# --- the registry ---------------------------------------------------------------------


def test_a_registered_style_loss_is_used_by_the_objective(monkeypatch, tiny_weights):
  """STYLE_LOSSES is the one table the objective dispatches on: a kind registered there
  (the squared distance of the channel means, for the test) is checked, computed and
  weighted per layer like the built-in ones, with no other code to touch."""
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import objective  # pylint: disable=import-outside-toplevel
  means = losses.StyleLoss(
      statistics=lambda f, num_quantiles=None: jnp.mean(f, axis=(0, 1)),
      distance=lambda f, target, **_: jnp.sum(jnp.square(jnp.mean(f, axis=(0, 1)) - target)))
  monkeypatch.setitem(losses.STYLE_LOSSES, "means", means)
  layers = ("conv1_1", "conv2_1")
  config = objective.ObjectiveConfig(style_loss="means", content_layers=(), style_layers=layers,
                                     style_layer_weights=(0.25, 0.75))
  content, style, x = (np.random.default_rng(s).uniform(size=(16, 16, 3)).astype(np.float32)
                       for s in range(3))
  targets = objective.compute_targets(content, [style], config, tiny_weights)
  value = jax.jit(objective.make_loss_fn(config, tiny_weights))(
      jnp.asarray(x), targets, features.network_variables(tiny_weights))[1]["style"]
  feats = features.extract_features(np.stack([x, style]), layers, weights=tiny_weights)
  want = sum(w * np.sum(np.square(np.asarray(feats[l][0], np.float64).mean((0, 1))
                                  - np.asarray(feats[l][1], np.float64).mean((0, 1))))
             for w, l in zip((0.25, 0.75), layers))
  np.testing.assert_allclose(float(value), want, rtol=1e-4)
  assert "means" not in losses.RANDOM_STYLE_LOSSES
  with pytest.raises(ValueError, match="gram style loss only"):
    objective.ObjectiveConfig(style_loss="means", guided=True)


# --- the paper's losses, and the Gram matrix's gradient --------------------------------


def _np_gram(f):
  f = f.reshape(-1, f.shape[-1]).astype(np.float64)  # [M, N]
  return f.T @ f  # G_ij = sum_k F_ik F_jk with F = [N, M] in the paper.


def test_content_loss_matches_formula():
  rng = np.random.default_rng(0)
  f, p = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
  expected = 0.5 * np.sum((f.astype(np.float64) - p) ** 2)
  np.testing.assert_allclose(losses.content_loss(f, p), expected, rtol=1e-5)


def test_gram_matrix_matches_formula():
  f = np.random.default_rng(1).normal(size=(6, 5, 4)).astype(np.float32)
  g = np.asarray(losses.gram_matrix(f))
  np.testing.assert_allclose(g, _np_gram(f), rtol=1e-5)
  np.testing.assert_allclose(g, g.T)
  with pytest.raises(ValueError, match=r"\[H, W, C\]"):
    losses.gram_matrix(f.reshape(-1))


def test_style_layer_loss_matches_formula():
  rng = np.random.default_rng(2)
  f, a = rng.normal(size=(2, 7, 3, 5)).astype(np.float32)
  n, m = 5, 21
  expected = np.sum((_np_gram(f) - _np_gram(a)) ** 2) / (4 * n**2 * m**2)
  got = losses.style_layer_loss(losses.gram_matrix(f), losses.gram_matrix(a), m)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_style_loss_weights_layers():
  rng = np.random.default_rng(3)
  feats = {"a": rng.normal(size=(4, 4, 2)), "b": rng.normal(size=(2, 2, 3))}
  targets = {k: rng.normal(size=(v.shape[-1],) * 2) for k, v in feats.items()}  # Per position.
  weights = {"a": 0.3, "b": 0.7}
  expected = sum(
      w * np.sum((_np_gram(feats[k]) / (feats[k].shape[0] * feats[k].shape[1]) - targets[k]) ** 2)
      / (4 * feats[k].shape[-1] ** 2)
      for k, w in weights.items())
  feats32 = {k: v.astype(np.float32) for k, v in feats.items()}
  targets32 = {k: v.astype(np.float32) for k, v in targets.items()}
  np.testing.assert_allclose(losses.style_loss(feats32, targets32, weights), expected, rtol=1e-4)


def test_style_loss_is_the_papers_at_equal_sizes():
  rng = np.random.default_rng(4)
  f, a = rng.normal(size=(2, 6, 5, 4)).astype(np.float32)
  m = 30
  paper = losses.style_layer_loss(losses.gram_matrix(f), losses.gram_matrix(a), m)
  ours = losses.style_loss({"x": f}, {"x": losses.gram_matrix(a) / m}, {"x": 1.0})
  np.testing.assert_allclose(ours, paper, rtol=1e-5)


def test_guided_gram_is_the_regions_gram():
  rng = np.random.default_rng(5)
  f = rng.normal(size=(6, 8, 3)).astype(np.float32)
  guide = np.zeros((6, 8), np.float32)
  guide[1:4, 2:7] = 1.0
  region = f[guide > 0]
  np.testing.assert_allclose(losses.mean_gram_matrix(f, guide), region.T @ region / len(region),
                             rtol=1e-5)
  np.testing.assert_allclose(losses.mean_gram_matrix(f, np.ones((6, 8), np.float32)),
                             _np_gram(f) / 48, rtol=1e-5)
  # Soft guides weigh positions by guide^2.
  soft = rng.uniform(size=(6, 8)).astype(np.float32)
  w = (soft**2).ravel()
  flat = f.reshape(-1, 3)
  np.testing.assert_allclose(losses.mean_gram_matrix(f, soft),
                             (flat * w[:, None]).T @ flat / w.sum(), rtol=1e-4)
  with pytest.raises(ValueError, match="guide"):
    losses.mean_gram_matrix(f, guide[:3])


def test_total_variation_matches_formula():
  x = random_image(5, 6)
  expected = np.sum((x[1:] - x[:-1]) ** 2) + np.sum((x[:, 1:] - x[:, :-1]) ** 2)
  np.testing.assert_allclose(losses.total_variation_loss(x), expected, rtol=1e-5)
  assert float(losses.total_variation_loss(np.ones((4, 4, 3)))) == 0.0


def _close(a, b, tol=2e-5):
  a, b = np.asarray(a), np.asarray(b)
  assert np.abs(a - b).max() <= tol * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()


def test_gram_gradient_matches_autodiff():
  f = jax.random.normal(jax.random.PRNGKey(0), (5, 7, 4))
  target = jax.random.normal(jax.random.PRNGKey(1), (4, 4))

  def plain(f):
    m = f.reshape(-1, 4)
    return jnp.sum(jnp.square(jnp.matmul(m.T, m, precision="highest") - target))

  _close(jax.grad(lambda f: jnp.sum(jnp.square(losses.gram_matrix(f) - target)))(f),
         jax.grad(plain)(f))


def test_batched_gram_is_the_papers_gram_per_position():
  f = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
  g = np.asarray(losses.batched_gram(jnp.asarray(f)))
  for i in range(2):
    flat = f[i].reshape(-1, 4)
    np.testing.assert_allclose(g[i], flat.T @ flat / 15, rtol=1e-5)


def test_scaled_content_loss():
  rng = np.random.default_rng(2)
  f, p = rng.normal(size=(2, 3, 8)), rng.normal(size=(2, 3, 8))
  want = np.sum((f - p)**2) / (np.sum(np.abs(f - p)) + 1e-8)
  got = losses.scaled_content_loss(jnp.asarray(f, jnp.float32), jnp.asarray(p, jnp.float32))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Linear in the distance (a squared error is quadratic), zero with zero gradient at P.
  twice = losses.scaled_content_loss(jnp.asarray(p + 2 * (f - p), jnp.float32),
                                     jnp.asarray(p, jnp.float32))
  np.testing.assert_allclose(twice, 2 * want, rtol=1e-5)
  g = jax.grad(losses.scaled_content_loss)(jnp.asarray(p, jnp.float32),
                                           jnp.asarray(p, jnp.float32))
  assert float(losses.scaled_content_loss(jnp.asarray(p), jnp.asarray(p))) == 0.0
  assert np.all(np.isfinite(g)) and np.all(g == 0)


def test_histogram_weight_scales_the_matching_term():
  rng = np.random.default_rng(5)
  style = jnp.asarray(rng.gamma(2.0, size=(6, 7, 4)), jnp.float32)
  x = jnp.asarray(rng.uniform(size=(5, 6, 4)), jnp.float32)
  target = losses.style_statistics("histogram", style)
  gram = losses.style_distance("gram", x, target["gram"])
  d = [float(losses.style_distance("histogram", x, target, histogram_weight=w))
       for w in (0.0, 1.0, 3.0)]
  assert d[0] == pytest.approx(float(gram), rel=1e-6)
  assert d[2] - d[0] == pytest.approx(3 * (d[1] - d[0]), rel=1e-5)
  assert d[1] > d[0]


def test_temporal_loss_counts_only_the_reliable_pixels():
  """Ruder et al.'s (1/D) sum c (x - w)^2, D the image's number of values: a difference
  where c = 0 costs nothing, and c weighs each pixel's three channels."""
  x = np.zeros((2, 3, 3), np.float32)
  warped = np.zeros_like(x)
  warped[0, 0] = (1.0, 2.0, 0.0)  # Reliable: costs (1 + 4) / 18.
  warped[1, 2] = 9.0  # Not reliable: free.
  reliable = np.ones((2, 3), np.float32)
  reliable[1, 2] = 0.0
  reliable[0, 1] = 0.5
  warped[0, 1] = (2.0, 0.0, 0.0)  # Half reliable: 0.5 * 4 / 18.
  got = losses.temporal_loss(jnp.asarray(x), jnp.asarray(warped), jnp.asarray(reliable))
  np.testing.assert_allclose(float(got), (5.0 + 2.0) / 18, rtol=1e-6)
