"""jaxstyle.gatys.objective: the paper's objective on the networks' features (NumPy from
its formulas, finite differences), its loss weights as inputs of the compiled loss, the
other style losses and feature networks, several styles, masks (spatial control), and the
normalizations of its terms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle import features, losses
from jaxstyle.gatys import objective, transfer
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, layer_guide, make_loss_fn
from jaxstyle.features import extract_features, network_variables
from tests.conftest import lowered_programs, random_image, smooth_photo


def _np_gram(f):
  f = f.reshape(-1, f.shape[-1]).astype(np.float64)  # [M, N]
  return f.T @ f  # G_ij = sum_k F_ik F_jk with F = [N, M] in the paper.


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


# --- The loss weights are inputs of the compiled loss ----------------------------------
# Not constants: changing alpha, beta, the TV, histogram, layer or blend weights reuses the
# program (counted by JAX's lowering events) and gives the loss those weights define.


@pytest.mark.parametrize("style_loss", ["gram", "histogram"])
def test_weights_change_the_loss_not_the_program(tiny_weights, style_loss):
  content, a, b, x = (random_image(24, 32, s) for s in range(4))
  params = network_variables(tiny_weights)
  base = ObjectiveConfig(style_loss=style_loss, style_layers=("conv1_1", "conv2_1"))
  loss_fn = jax.jit(make_loss_fn(base, tiny_weights, num_styles=2))

  def parts(config):
    total, c = loss_fn(jnp.asarray(x), compute_targets(content, [a, b], config, tiny_weights),
                       params)
    return float(total), {k: float(v) for k, v in c.items()}

  parts(base)  # Compiles.
  # Each style's term alone (blend 1, 0 and 0, 1), per layer (layer weights 1, 0 and 0, 1).
  singles = {}
  with lowered_programs() as lowered:
    for s, blend in enumerate([(1.0, 0.0), (0.0, 1.0)]):
      for l, layers in enumerate([(1.0, 0.0), (0.0, 1.0)]):
        singles[s, l] = parts(objective.dataclasses.replace(
            base, style_blend_weights=blend, style_layer_weights=layers))[1]["style"]
    settings = dict(content_weight=2.5, style_weight=7.0, tv_weight=3.0,
                    style_blend_weights=(1.0, 3.0), style_layer_weights=(0.3, 0.9))
    total, c = parts(objective.dataclasses.replace(base, **settings))
    no_histogram = parts(objective.dataclasses.replace(base, **settings, histogram_weight=0.0))
    zero_tv = parts(objective.dataclasses.replace(base, **dict(settings, tv_weight=0.0)))
  assert not lowered, f"{len(lowered)} programs lowered again for new weights"
  style = sum(blend * layer * singles[s, l]
              for s, blend in enumerate((0.25, 0.75)) for l, layer in enumerate((0.3, 0.9)))
  np.testing.assert_allclose(c["style"], style, rtol=1e-5)
  np.testing.assert_allclose(total, 2.5 * c["content"] + 7.0 * c["style"] + 3.0 * c["tv"],
                             rtol=1e-5)
  assert c["tv"] > 0 and zero_tv[1]["tv"] == c["tv"]  # Computed even at weight 0.
  np.testing.assert_allclose(zero_tv[0], total - 3.0 * c["tv"], rtol=1e-5)
  if style_loss == "histogram":  # E + gamma H, gamma now 0.
    assert no_histogram[1]["style"] < 0.9 * c["style"]
  else:
    assert no_histogram[1]["style"] == c["style"]


def test_temporal_term_holds_the_frame_to_the_warped_previous_output(tiny_weights):
  """Video (Ruder et al.): with a temporal target the loss adds temporal_weight times
  `losses.temporal_loss` (the rest unchanged), the weight is traced (a new one lowers
  no program), and a target without a temporal config, or the reverse, is refused."""
  content, style, x, previous = (random_image(24, 32, s) for s in range(4))
  reliable = (random_image(24, 32, 5)[..., 0] > 0.5).astype(np.float32)
  params = network_variables(tiny_weights)
  plain = ObjectiveConfig()
  config = objective.dataclasses.replace(plain, temporal=True, temporal_weight=300.0)
  loss_fn = jax.jit(make_loss_fn(config, tiny_weights))
  targets = compute_targets(content, [style], config, tiny_weights,
                            temporal=(previous, reliable))
  total, parts = loss_fn(jnp.asarray(x), targets, params)
  plain_total, plain_parts = jax.jit(make_loss_fn(plain, tiny_weights))(
      jnp.asarray(x), compute_targets(content, [style], plain, tiny_weights), params)
  expected = np.sum(reliable[..., None] * np.square(x - previous)) / x.size
  np.testing.assert_allclose(float(parts["temporal"]), expected, rtol=1e-5)
  np.testing.assert_allclose(float(total), float(plain_total) + 300.0 * expected, rtol=1e-5)
  assert set(plain_parts) == {"content", "style", "tv"}
  with lowered_programs() as lowered:
    heavier = objective.dataclasses.replace(config, temporal_weight=600.0)
    total_2, _ = loss_fn(jnp.asarray(x), compute_targets(
        content, [style], heavier, tiny_weights, temporal=(previous, reliable)), params)
  assert not lowered
  np.testing.assert_allclose(float(total_2), float(plain_total) + 600.0 * expected, rtol=1e-5)
  with pytest.raises(ValueError, match="not temporal"):
    compute_targets(content, [style], plain, tiny_weights, temporal=(previous, reliable))
  with pytest.raises(ValueError, match="warped previous output"):
    compute_targets(content, [style], config, tiny_weights)
  with pytest.raises(ValueError, match="content's size"):
    compute_targets(content, [style], config, tiny_weights,
                    temporal=(previous[:-1], reliable[:-1]))


def test_a_run_at_new_weights_compiles_nothing(tiny_weights):
  """Two stylize runs that differ in alpha, beta, TV and layer weights: the second
  lowers no program, and its losses are its own."""
  content, style = random_image(24, 32), random_image(32, 32, seed=1)
  run = lambda **kw: transfer.stylize(content, style, weights=tiny_weights, num_steps=2,
                                      log_every=0, **kw)
  first = run(style_weight=1e-3)
  with lowered_programs() as lowered:
    second = run(style_weight=2e-2, content_weight=3.0, tv_weight=1e-2,
                 style_layer_weights=(0.1, 0.2, 0.3, 0.2, 0.2))
  assert not lowered, f"{len(lowered)} programs lowered again for new weights"
  h1, h2 = first.history, second.history
  assert h1["content"][0] == h2["content"][0] and h1["style"][0] != h2["style"][0]
  np.testing.assert_allclose(h2["total"][0], 3.0 * h2["content"][0] + 2e-2 * h2["style"][0]
                             + 1e-2 * h2["tv"][0], rtol=1e-5)


def test_targets_without_weights_are_refused(tiny_weights):
  config = ObjectiveConfig()
  targets = compute_targets(random_image(24, 32), [random_image(24, 32, 1)], config,
                            tiny_weights)
  del targets["weights"]
  with pytest.raises(ValueError, match="no loss weights"):
    make_loss_fn(config, tiny_weights)(jnp.asarray(random_image(24, 32)), targets,
                                       network_variables(tiny_weights))


def test_structure_drops_exactly_the_weight_fields():
  config = ObjectiveConfig(content_weight=2.0, style_weight=3.0, tv_weight=1.0,
                           histogram_weight=5.0, style_layer_weights=(1, 2, 3, 4, 5),
                           style_blend_weights=(1, 2), pooling="avg")
  plain = objective.structure(config)
  assert plain == objective.structure(ObjectiveConfig(pooling="avg"))
  assert plain != objective.structure(ObjectiveConfig())  # Pooling shapes the program.
  changed = {f.name for f in objective.dataclasses.fields(config)
             if getattr(config, f.name) != getattr(plain, f.name)}
  assert changed == set(objective.WEIGHT_FIELDS)


# --- Other style losses, several styles, other networks --------------------------------

TINY = {"vgg16": (4, 6, 8, 8, 8), "alexnet": (6, 8, 8, 8, 8)}


@pytest.fixture(scope="module")
def tiny_networks():
  return {name: jaxstyle.weights.random_weights(network=name, widths=widths)
          for name, widths in TINY.items()}


@pytest.mark.slow
def test_sliced_wasserstein_draws_new_directions_every_step(tiny_weights):
  content, style, x = (random_image(32, 32, s) for s in range(3))
  config = ObjectiveConfig(style_loss="sliced_wasserstein")
  targets = compute_targets(content, [style], config, tiny_weights)
  fn = make_loss_fn(config, tiny_weights)
  assert fn.uses_step and not make_loss_fn(ObjectiveConfig(), tiny_weights).uses_step
  fn = jax.jit(fn)
  params = features.network_variables(tiny_weights)
  at = lambda step, t=targets: float(fn(jnp.asarray(x), t, params, step)[1]["style"])
  assert at(0) == at(0) and at(0) != at(1) and at(1) != at(2)
  other = compute_targets(content, [style], config, tiny_weights, key=np.uint32([0, 7]))
  assert at(0, other) != at(0)


@pytest.mark.parametrize("style_loss", ["mean_cov", "sliced_wasserstein", "histogram"])
def test_masks_are_for_the_gram_loss(tiny_weights, style_loss):
  mask = np.ones((32, 32), np.float32)
  with pytest.raises(ValueError, match="gram style loss only"):
    transfer.stylize(random_image(32, 32), random_image(32, 32, 1), weights=tiny_weights,
                     style_loss=style_loss, style_masks=[mask], num_steps=1, log_every=0)


@pytest.mark.slow
def test_several_styles_blend_the_losses(tiny_weights):
  """Two style images with weights 0.25/0.75: the style term is the weighted sum of
  each one's (the rule for every loss)."""
  content, a, b, x = (random_image(32, 32, s) for s in range(4))
  params = features.network_variables(tiny_weights)

  def value(styles, blend):  # The blend weights travel in the targets.
    config = ObjectiveConfig(style_loss="mean_cov", style_blend_weights=blend)
    return float(jax.jit(make_loss_fn(config, tiny_weights, num_styles=len(styles)))(
        jnp.asarray(x), compute_targets(content, styles, config, tiny_weights),
        params)[1]["style"])

  np.testing.assert_allclose(value([a, b], (1, 3)),
                             0.25 * value([a], None) + 0.75 * value([b], None), rtol=1e-5)


# Each network's layers as the README and `features` name them: content, style.
OWN_LAYERS = {"vgg16": ("conv4_2", ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")),
              "alexnet": ("conv4", ("conv1", "conv2", "conv3", "conv4", "conv5"))}


def _np_gram_objective(network, weights, image, content, style):
  """(content, style) losses from the formulas, float64: the mean squared difference
  at the content layer; sum_l w_l sum (G/M - A/M_s)^2 / (4 C^2) with w_l = 1/5."""
  content_layer, style_layers = OWN_LAYERS[network]
  f = features.extract_features(np.stack([image, content]), (content_layer,) + style_layers,
                                weights=weights)
  fs = features.extract_features(style[None], style_layers, weights=weights)
  as64 = lambda a: np.asarray(a, np.float64)
  content_loss = np.mean(np.square(as64(f[content_layer][0]) - as64(f[content_layer][1])))
  style_loss = 0.0
  for layer in style_layers:
    x = as64(f[layer][0]).reshape(-1, f[layer].shape[-1])
    a = as64(fs[layer][0]).reshape(-1, x.shape[1])
    style_loss += np.sum(np.square(x.T @ x / len(x) - a.T @ a / len(a))) / (
        4 * x.shape[1]**2 * len(style_layers))
  return content_loss, style_loss


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
@pytest.mark.slow
def test_other_networks_stylize_with_their_own_layers(tiny_networks, network):
  """From a start image that is neither photo nor style: the first recorded losses are
  the formulas' on the network's own layers (and its calibrated beta), and 8 L-BFGS
  steps lower the total by more than half."""
  content, style, start = (random_image(64, 64, s) for s in range(3))
  weights = tiny_networks[network]
  result = transfer.stylize(content, style, weights=weights, init=start, num_steps=8,
                            log_every=0)
  assert result.run["network"] == network
  assert (result.run["content_layers"][0], tuple(result.run["style_layers"])) == (
      OWN_LAYERS[network])
  want_content, want_style = _np_gram_objective(network, weights, start, content, style)
  h = result.history
  np.testing.assert_allclose(h["content"][0, 0], want_content, rtol=1e-4)
  np.testing.assert_allclose(h["style"][0, 0], want_style, rtol=1e-4)
  beta = objective.DEFAULT_STYLE_WEIGHTS[("gram", network)]
  np.testing.assert_allclose(h["total"][0, 0], want_content + beta * want_style, rtol=1e-4)
  assert h["total"][-1, 0] < 0.5 * h["total"][0, 0], h["total"][:, 0]
  with pytest.raises(ValueError, match="valid layers"):
    transfer.stylize(content, style, weights=weights, style_layers=["conv5_4"], num_steps=1,
                     log_every=0)
  with pytest.raises(ValueError, match="network=vgg19"):
    transfer.stylize(content, style, weights=weights, network="vgg19", num_steps=1,
                     log_every=0)


def test_objective_refuses_weights_of_another_network(tiny_weights, tiny_networks):
  with pytest.raises(ValueError, match="vgg16's but the objective is for vgg19"):
    make_loss_fn(ObjectiveConfig(), tiny_networks["vgg16"])
  with pytest.raises(ValueError, match="style masks work with the VGGs, not alexnet"):
    ObjectiveConfig(network="alexnet", content_layers=("conv4",),
                    style_layers=("conv1",), guided=True)


# --- Spatial control: masks ------------------------------------------------------------


def test_per_position_grams_do_not_depend_on_the_style_size(tiny_weights):
  """A texture tiled 2x2 has the same Gram matrix per position as the texture itself."""
  tile = random_image(48, 48, 3)
  config = ObjectiveConfig(content_layers=(), style_layers=("conv1_1", "conv2_1"))
  small = compute_targets(None, [tile], config, tiny_weights)["style"][0]
  big = compute_targets(None, [np.tile(tile, (2, 2, 1))], config, tiny_weights)["style"][0]
  for layer in config.style_layers:
    a, b = np.asarray(small[layer]), np.asarray(big[layer])
    # Only the borders differ (zero padding), by far less than the 4x of summed Grams.
    assert np.abs(a - b).max() < 0.15 * np.abs(a).max(), layer


def test_layer_guide_averages_each_cell():
  mask = np.zeros((37, 40), np.float32)
  mask[:, :20] = 1.0
  g = layer_guide(mask, "conv3_1", 37, 40)  # Stride 4.
  assert g.shape == (9, 10)
  np.testing.assert_allclose(g[:, :5], 1.0)
  np.testing.assert_allclose(g[:, 5:], 0.0)
  half = np.zeros((8, 8), np.float32)
  half[:, 1::2] = 1
  np.testing.assert_allclose(layer_guide(half, "conv2_1", 8, 8), 0.5)


@pytest.mark.slow
def test_a_full_mask_is_the_unguided_objective(tiny_weights):
  content, style = random_image(32, 32, 0), random_image(32, 32, 1)
  x = jnp.asarray(random_image(32, 32, 2))
  plain = ObjectiveConfig()
  guided = ObjectiveConfig(guided=True)
  t_plain = compute_targets(content, [style], plain, tiny_weights)
  t_guided = compute_targets(content, [style], guided, tiny_weights,
                             style_masks=[np.ones((32, 32), np.float32)])
  loss = lambda config, targets: jax.jit(make_loss_fn(config, tiny_weights).fn)(
      x, targets, network_variables(tiny_weights))[0]
  a, b = loss(plain, t_plain), loss(guided, t_guided)
  np.testing.assert_allclose(a, b, rtol=1e-5)
  with pytest.raises(ValueError, match="one mask per style"):
    compute_targets(content, [style], guided, tiny_weights)


@pytest.mark.slow
def test_where_no_mask_is_white_there_is_no_style(tiny_weights):
  """Two styles, masks white on the left and right quarters and both black in the middle
  half. With style layers conv1_1 and conv2_1 (receptive fields of 3 and 10 px, conv2_1's
  guide per 2x2 cell) no feature that a mask covers sees columns 12-19: their style
  gradient is zero, changing them leaves the style loss as it is, and stylizing from the
  photo leaves them the photo's, while the covered quarters take their styles.

  Fails where positions no mask covers get some style: masks normalized to sum to 1
  (each style a share where none is set), the unguided loss for the uncovered rest, or
  a guide that spreads a region beyond its mask."""
  h, w = 32, 32
  content = smooth_photo(h, w, 0)
  styles = [random_image(h, w, 1), random_image(h, w, 2) ** 2]
  left, right = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
  left[:, :8] = 1
  right[:, 24:] = 1
  band = slice(12, 20)
  layers = ("conv1_1", "conv2_1")
  config = ObjectiveConfig(content_layers=(), style_layers=layers, guided=True)
  targets = compute_targets(content, styles, config, tiny_weights, style_masks=[left, right])
  loss_fn = make_loss_fn(config, tiny_weights, num_styles=2)
  variables = network_variables(tiny_weights)
  style_of = jax.jit(lambda x: loss_fn(x, targets, variables)[1]["style"])
  x = jnp.asarray(random_image(h, w, 3))
  value, grad = jax.value_and_grad(style_of)(x)
  grad = np.abs(np.asarray(grad))
  assert grad[:, :8].max() > 0 and grad[:, 24:].max() > 0
  assert grad[:, band].max() <= 1e-6 * grad.max()
  other = x.at[:, band].set(jnp.asarray(random_image(h, w, 4))[:, band])
  np.testing.assert_allclose(style_of(other), value, rtol=1e-5)
  # The whole run: the uncovered middle stays the photo.
  result = jaxstyle.stylize(content, styles, weights=tiny_weights, style_masks=[left, right],
                            style_layers=layers, content_weight=0.0, num_steps=5,
                            log_every=0)
  change = np.abs(result.images[0] - content)
  assert change[:, band].max() < 1e-6
  assert change[:, :8].mean() > 0.02 and change[:, 24:].mean() > 0.01  # Measured 0.07, 0.033.


@pytest.mark.slow
def test_masks_put_each_style_in_its_region(real_weights):
  """Left half red stripes, right half blue stripes: each half takes its own style (real
  VGG-19, 32x32: measured 0.21 and 0.28 of red over blue and blue over red)."""
  h, w = 32, 32
  yy = np.arange(h)[:, None, None] % 8 < 4
  red = np.where(yy, [0.9, 0.1, 0.1], [0.5, 0.05, 0.05]).astype(np.float32) * np.ones((h, h, 3))
  blue = np.where(yy, [0.1, 0.1, 0.9], [0.05, 0.05, 0.5]).astype(np.float32) * np.ones((h, h, 3))
  left = np.zeros((h, w), np.float32)
  left[:, : w // 2] = 1
  result = jaxstyle.stylize(np.full((h, w, 3), 0.5, np.float32), [red, blue],
                            weights=real_weights, style_masks=[left, 1 - left],
                            content_weight=0.0, num_steps=60, log_every=0)
  out = result.images[0]
  margin = 8
  lhs, rhs = out[:, : w // 2 - margin], out[:, w // 2 + margin:]
  assert lhs[..., 0].mean() > lhs[..., 2].mean() + 0.15
  assert rhs[..., 2].mean() > rhs[..., 0].mean() + 0.15


def test_blend_weights_are_normalized(tiny_weights):
  a = ObjectiveConfig(style_blend_weights=(1.0, 3.0)).blend_weights(2)
  np.testing.assert_allclose(a, (0.25, 0.75))
  assert ObjectiveConfig(guided=True).blend_weights(2) == (1.0, 1.0)
  with pytest.raises(ValueError, match="non-negative"):
    ObjectiveConfig(style_blend_weights=(1.0, -1.0))


# --- The terms' normalizations, the default style weight -------------------------------


def test_tv_normalization_is_its_own_setting(tiny_weights):
  image = jnp.asarray(random_image(32, 32, 3))
  content = random_image(32, 32, 4)

  def tv(**kwargs):
    config = objective.ObjectiveConfig(tv_weight=1.0, style_layers=(), **kwargs)
    targets = objective.compute_targets(content, [], config, tiny_weights)
    fn = objective.make_loss_fn(config, tiny_weights, num_styles=0)
    from jaxstyle import features  # pylint: disable=import-outside-toplevel
    return float(fn(image, targets, features.network_variables(tiny_weights, "auto"))[1]["tv"])

  summed = float(losses.total_variation_loss(image))
  assert tv(content_normalization="sum") == pytest.approx(summed, rel=1e-6)
  assert tv(content_normalization="mean") == pytest.approx(summed / image.size, rel=1e-6)
  assert tv(content_normalization="mean", tv_normalization="sum") == pytest.approx(
      summed, rel=1e-6)
  assert tv(content_normalization="scaled") == pytest.approx(summed / image.size, rel=1e-6)
  with pytest.raises(ValueError, match="tv_normalization"):
    objective.ObjectiveConfig(tv_normalization="max")


@pytest.mark.slow
def test_style_weight_defaults_per_loss_and_network(tiny_weights):
  """style_weight=None takes the calibrated beta of the loss and network (a user who only
  switches --style_loss must not get beta = 1e-3 of a loss 1e5 times smaller)."""
  assert objective.default_style_weight("gram", "vgg19") == objective.DEFAULT_STYLE_WEIGHT
  assert objective.default_style_weight("sliced_wasserstein", "vgg19") == 300.0
  assert objective.default_style_weight("gram", "alexnet") == 0.6
  # Not calibrated: the loss's VGG-19 weight scaled like gram's.
  assert objective.default_style_weight("sliced_wasserstein", "vgg16") == pytest.approx(
      300.0 * 5.0 / 1e-3)
  with pytest.raises(ValueError, match="style_loss"):
    objective.default_style_weight("ssim")
  content, style = random_image(24, 24, 0), random_image(24, 24, 1)
  for loss, want in (("gram", 1e-3), ("sliced_wasserstein", 300.0), ("histogram", 5e-4)):
    result = transfer.stylize(content, style, weights=tiny_weights, style_loss=loss,
                              num_steps=1, log_every=0)
    assert result.run["style_weight"] == want
  given = transfer.stylize(content, style, weights=tiny_weights, style_weight=7.0,
                           num_steps=1, log_every=0)
  assert given.run["style_weight"] == 7.0
