import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import losses
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, make_loss_fn
from jaxstyle.features import extract_features, network_variables
from tests.conftest import random_image


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


@pytest.mark.slow
def test_objective_is_the_papers_on_the_networks_features(tiny_weights):
  """make_loss_fn against float64 NumPy written from the paper on the tiny network's
  features (plain XLA kernels): Eq. 1 summed over two content layers, Eq. 3-5 with
  unequal w_l (style image of the generated image's size, so Eq. 4 holds exactly), TV,
  and Eq. 7's alpha, beta plus the TV weight, all distinct.

  Fails for a missing 1/2 or 1/(4 N^2 M^2), Grams over the wrong axis, unweighted or
  misassigned layers, swapped or dropped weights, targets from another layer.
  """
  x, content, style = (random_image(24, 28, seed) for seed in (0, 1, 2))
  config = ObjectiveConfig(content_layers=("conv2_1", "conv3_2"),
                           style_layers=("conv1_1", "conv2_1", "conv3_1"),
                           style_layer_weights=(0.5, 0.3, 0.2), content_normalization="sum",
                           content_weight=2.0, style_weight=30.0, tv_weight=5e3)
  feats = [{l: np.asarray(v[0], np.float64) for l, v in extract_features(
      image[None], config.all_layers, weights=tiny_weights, kernels="xla").items()}
           for image in (x, content, style)]
  f, p, a = feats
  content_ref = sum(0.5 * np.sum((f[l] - p[l]) ** 2) for l in config.content_layers)
  style_ref = 0.0
  for layer, w in zip(config.style_layers, config.style_layer_weights):
    n, m = f[layer].shape[-1], f[layer].shape[0] * f[layer].shape[1]
    style_ref += w * np.sum((_np_gram(f[layer]) - _np_gram(a[layer])) ** 2) / (4 * n**2 * m**2)
  x64 = x.astype(np.float64)
  tv_ref = np.sum((x64[1:] - x64[:-1]) ** 2) + np.sum((x64[:, 1:] - x64[:, :-1]) ** 2)

  targets = compute_targets(content, [style], config, tiny_weights)
  total, parts = jax.jit(make_loss_fn(config, tiny_weights))(jnp.asarray(x), targets,
                                                    network_variables(tiny_weights))
  np.testing.assert_allclose(parts["content"], content_ref, rtol=1e-4)
  np.testing.assert_allclose(parts["style"], style_ref, rtol=1e-4)
  np.testing.assert_allclose(parts["tv"], tv_ref, rtol=1e-5)
  np.testing.assert_allclose(total, 2.0 * content_ref + 30.0 * style_ref + 5e3 * tv_ref,
                             rtol=1e-4)
  # Each weighted term is a real share of the total (measured 32%, 59%, 8%).
  terms = np.array([2.0 * content_ref, 30.0 * style_ref, 5e3 * tv_ref])
  assert np.all(terms > 0.02 * terms.sum()), terms / terms.sum()


def test_objective_zero_at_targets_and_components(tiny_weights):
  content, style = random_image(32, 32, 0), random_image(32, 32, 1)
  config = ObjectiveConfig(content_weight=2.0, style_weight=3.0, tv_weight=0.5)
  targets = compute_targets(content, [style], config, tiny_weights)
  fn = make_loss_fn(config, tiny_weights)
  total, parts = fn(jnp.asarray(content), targets, network_variables(tiny_weights))
  assert float(parts["style"]) > 0
  assert float(parts["content"]) < 1e-6 * float(parts["style"])
  np.testing.assert_allclose(total, 3.0 * parts["style"] + 0.5 * parts["tv"], rtol=1e-6)
  total, parts = fn(jnp.asarray(style), targets, network_variables(tiny_weights))
  assert float(parts["style"]) < 1e-6 * float(parts["content"]) + 1e-6


@pytest.mark.slow
def test_finite_difference_gradient(tiny_weights):
  content, style = random_image(16, 16, 0), random_image(16, 16, 1)
  config = ObjectiveConfig(content_layers=("conv2_1",),
                           style_layers=("conv1_1", "conv2_1", "conv3_1"),
                           content_weight=1.0, style_weight=1e3, tv_weight=10.0)
  targets = compute_targets(content, [style], config, tiny_weights)
  fn = make_loss_fn(config, tiny_weights)
  to64 = lambda tree: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)

  # Float64 so that differences of a 1e9-sized loss mean something (jax.enable_x64 is
  # jax >= 0.8; the experimental one works on the oldest supported 0.7.2).
  enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
  with enable_x64(True):
    params, targets = to64(network_variables(tiny_weights)), to64(targets)

    value = jax.jit(lambda x: fn(x, targets, params)[0])
    x = jnp.asarray(random_image(16, 16, 2), jnp.float64)
    _check_gradient(value, x)


def _check_gradient(value, x):
  grad = np.asarray(jax.grad(value)(x))
  rng = np.random.default_rng(0)
  direction = rng.normal(size=x.shape)
  eps = 1e-5
  numeric = (value(x + eps * direction) - value(x - eps * direction)) / (2 * eps)
  analytic = np.sum(grad * direction)
  np.testing.assert_allclose(numeric, analytic, rtol=1e-4)
  # And one pixel at a time, where the gradient is large.
  for idx in np.argsort(np.abs(grad).ravel())[-3:]:
    e = np.zeros(x.size)
    e[idx] = 1.0
    e = e.reshape(x.shape)
    numeric = (value(x + eps * e) - value(x - eps * e)) / (2 * eps)
    np.testing.assert_allclose(numeric, grad.ravel()[idx], rtol=1e-4)


@pytest.mark.slow
def test_style_blend_weights(tiny_weights):
  content = random_image(16, 16, 0)
  s1, s2 = random_image(16, 16, 1), random_image(16, 16, 2)
  x = jnp.asarray(random_image(16, 16, 3))

  def style_value(styles, blend):
    config = ObjectiveConfig(style_blend_weights=blend)
    targets = compute_targets(content, styles, config, tiny_weights)
    return jax.jit(make_loss_fn(config, tiny_weights, num_styles=len(styles)))(
        x, targets, network_variables(tiny_weights))[1]["style"]

  blended = style_value([s1, s2], (0.25, 0.75))
  np.testing.assert_allclose(
      blended, 0.25 * style_value([s1], None) + 0.75 * style_value([s2], None), rtol=1e-5)
  with pytest.raises(ValueError, match="1 style blend weights for 2 style images"):
    style_value([s1, s2], (1.0,))


def test_mean_content_normalization_is_the_sum_over_the_elements(tiny_weights):
  """content_normalization="mean": the content loss is Eq. 1 x 2 / (H W C) and the TV
  term is divided by the image's values; the style term is unchanged."""
  x, content, style = (random_image(24, 28, seed) for seed in (0, 1, 2))
  kw = dict(content_layers=("conv3_2",), style_layers=("conv1_1", "conv2_1"), tv_weight=1.0)
  parts = {}
  for norm in ("sum", "mean"):
    config = ObjectiveConfig(content_normalization=norm, **kw)
    targets = compute_targets(content, [style], config, tiny_weights)
    parts[norm] = jax.jit(make_loss_fn(config, tiny_weights))(
        jnp.asarray(x), targets, network_variables(tiny_weights))[1]
  f = extract_features(x[None], ["conv3_2"], weights=tiny_weights)["conv3_2"]
  np.testing.assert_allclose(parts["mean"]["content"],
                             parts["sum"]["content"] * 2 / f[0].size, rtol=1e-5)
  np.testing.assert_allclose(parts["mean"]["tv"], parts["sum"]["tv"] / x.size, rtol=1e-5)
  np.testing.assert_allclose(parts["mean"]["style"], parts["sum"]["style"], rtol=1e-6)
  with pytest.raises(ValueError, match="content_normalization"):
    ObjectiveConfig(content_normalization="max")
