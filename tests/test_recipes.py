"""The peers' recipes (presets.PRESETS["crowsonkb"], ["neural_style"]) and what they need: warm-started first-order
state across scales, sqrt(2) scales from a coarsest size, steps per finer scale,
crowsonkb's scaled content loss, a TV normalization of its own, the histogram weight."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from jaxstyle import losses
from jaxstyle.gatys import config as config_lib
from jaxstyle.gatys import objective, optimize, presets, pyramid, transfer
from jaxstyle.gatys.config import StylizeConfig
from tests.conftest import random_image
from tests.commands import run_main


def _quadratic(x, target):
  value = 0.5 * jnp.sum(jnp.square(x - target))
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


@pytest.mark.parametrize("num_seeds", [1, 2])
def test_warm_start_continues_adams_state(num_seeds):
  """A second run from the first one's state continues Adam (step count, moments, loss
  scale), as a hand-written optax loop does: fails if the state is dropped, re-created
  or the scale re-derived from the new start."""
  rng = np.random.default_rng(0)
  target = jnp.asarray(rng.uniform(size=(4, 5, 3)), jnp.float32)
  x0 = rng.uniform(size=(num_seeds, 4, 5, 3)).astype(np.float32)
  opts = dict(method="adam", learning_rate=0.05, log_every=0)
  first = optimize.minimize(_quadratic, x0, (target,), num_steps=3, **opts)
  second = optimize.minimize(_quadratic, first.x, (target,), num_steps=4,
                             initial_state=first.state, **opts)
  fresh = optimize.minimize(_quadratic, first.x, (target,), num_steps=4, **opts)
  for seed in range(num_seeds):
    tx = optax.adam(0.05)
    grad = jax.jit(jax.grad(lambda x: _quadratic(x, target)[0]))
    x = jnp.asarray(x0[seed])
    state, scale = tx.init(x), 1.0 / float(_quadratic(x, target)[0])
    for _ in range(4):  # Run 1: its start and 3 steps, 4 updates; it returns x_3.
      last = x
      updates, state = tx.update(grad(x) * scale, state, x)
      x = optax.apply_updates(x, updates)
    x = last
    for _ in range(5):  # Run 2 starts again at x_3, with the state and the scale.
      last = x
      updates, state = tx.update(grad(x) * scale, state, x)
      x = optax.apply_updates(x, updates)
    np.testing.assert_allclose(second.x[seed], last, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fresh.x[seed], last, atol=1e-4)  # A fresh Adam differs.
  assert int(np.max(second.state["opt_state"][0].count)) == 9


def test_initial_state_is_refused_by_lbfgs():
  x0 = np.zeros((1, 4, 5, 3), np.float32)
  first = optimize.minimize(_quadratic, x0, (jnp.ones((4, 5, 3)),), method="adam",
                            num_steps=1, log_every=0)
  assert optimize.minimize(_quadratic, x0, (jnp.ones((4, 5, 3)),), method="lbfgs",
                           num_steps=1, log_every=0).state is None
  with pytest.raises(ValueError, match="no state to warm-start"):
    optimize.minimize(_quadratic, x0, (jnp.ones((4, 5, 3)),), method="lbfgs",
                      num_steps=1, log_every=0, initial_state=first.state)


def test_resize_state_resizes_image_shaped_leaves_only():
  rng = np.random.default_rng(1)
  state = {"opt_state": (optax.ScaleByAdamState(
      count=np.array([3, 3], np.int32),
      mu=rng.normal(size=(2, 4, 6, 3)).astype(np.float32),
      nu=rng.uniform(size=(2, 4, 6, 3)).astype(np.float32)), optax.EmptyState()),
      "scale": np.array([0.5, 0.25], np.float32)}
  out = optimize.resize_state(state, (4, 6), (8, 12))
  adam = out["opt_state"][0]
  assert adam.mu.shape == adam.nu.shape == (2, 8, 12, 3)
  assert adam.nu.min() >= 0
  np.testing.assert_array_equal(adam.count, [3, 3])
  np.testing.assert_array_equal(out["scale"], [0.5, 0.25])
  # Bilinear: a constant stays constant, the mean is about kept.
  const = optimize.resize_state({"m": np.full((4, 6, 3), 2.0, np.float32)}, (4, 6), (5, 9))
  np.testing.assert_allclose(const["m"], 2.0, rtol=1e-6)
  assert abs(adam.mu.mean() - state["opt_state"][0].mu.mean()) < 0.1


def test_auto_scales_from_a_coarsest_size():
  root2 = 2**0.5
  # crowsonkb's gen_scales(128, end): 256 -> 128, 181, 256; 512 -> 128, ..., 512.
  assert config_lib.auto_scales(170, 256, factor=root2, coarsest_size=128) == 3
  assert config_lib.auto_scales(341, 512, factor=root2, coarsest_size=128) == 5
  assert config_lib.auto_scales(80, 100, factor=root2, coarsest_size=128) == 1
  assert config_lib.auto_scales(341, 512) == 2  # The default rule is unchanged.
  shapes = pyramid.level_shapes(170, 256, 3, root2)
  assert [max(s) for s in shapes] == [128, 181, 256]


@pytest.mark.slow
def test_carry_state_and_finer_steps_in_stylize(tiny_weights):
  content, style = random_image(40, 48, 0), random_image(40, 48, 1)
  kwargs = dict(weights=tiny_weights, optimizer="adam", learning_rate=0.02, init="content",
                scale_factor=2**0.5, coarsest_size=24, num_steps=6, finer_steps=3,
                log_every=0, style_weight=1.0)
  warm = transfer.stylize(content, style, carry_state=True, **kwargs)
  cold = transfer.stylize(content, style, **kwargs)
  assert [(l["width"], l["steps"]) for l in warm.run["scales"]] == [
      (24, 6), (34, 3), (48, 3)]
  assert warm.config.schedule.carry_state and warm.steps == 12
  assert warm.images.shape == (1, 40, 48, 3)
  assert not np.allclose(warm.images, cold.images, atol=1e-4)
  with pytest.raises(ValueError, match="carry_state"):
    transfer.stylize(content, style, carry_state=True, **dict(kwargs, optimizer="lbfgs",
                                                               learning_rate=None))
  with pytest.raises(ValueError, match="scale_factor"):
    transfer.stylize(content, style, **dict(kwargs, scale_factor=1.0))


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


def test_recipes_are_the_peers_settings():
  crowson = presets.preset("crowsonkb").flat()
  neural = presets.preset("neural_style").flat()
  assert crowson["optimizer"] == "adam" and crowson["adam_betas"] == (0.9, 0.99)
  assert crowson["clamp"] and crowson["average_decay"] == 0.99 and crowson["carry_state"]
  assert crowson["coarsest_size"] == 128 and crowson["scale_factor"] == pytest.approx(2**0.5)
  assert (crowson["num_steps"], crowson["finer_steps"]) == (1000, 500)
  assert crowson["style_loss"] == "mean_cov" and crowson["init"] == "content"
  # 256:64:16:4:1 normalized, then per channel (its W2 is a channel mean).
  ratios = np.array(crowson["style_layer_weights"]) * np.array([64, 128, 256, 512, 512])
  np.testing.assert_allclose(ratios / ratios[-1], [256, 64, 16, 4, 1])
  assert ratios.sum() == pytest.approx(1.0)
  k = presets.TORCHVISION_FEATURE_SCALE
  assert crowson["content_weight"] * k == pytest.approx(0.015)
  assert crowson["style_weight"] * k**2 == pytest.approx(1.0) and crowson["tv_weight"] == 2.0
  assert neural["lbfgs_history"] == 100 and neural["num_steps"] == 1000
  assert (neural["content_weight"], neural["style_weight"]) == (5.0, 100.0)
  np.testing.assert_allclose(np.array(neural["style_layer_weights"]) *
                             np.array([64, 128, 256, 512, 512])**2, 4.0)
  assert neural["tv_weight"] == pytest.approx(1e-3 * 255**2 / 2)
  assert neural["tv_normalization"] == "sum"
  assert presets.RECIPE_NAMES == ("crowsonkb", "neural_style")


def test_neural_style_gram_weights_equal_its_normalization():
  """4 / C^2 times our E_l is neural-style's mean squared difference of G / (C H W)."""
  rng = np.random.default_rng(6)
  f = rng.normal(size=(5, 6, 8)).astype(np.float32)
  s = rng.normal(size=(7, 4, 8)).astype(np.float32)
  ours = losses.style_distance("gram", jnp.asarray(f), losses.style_statistics(
      "gram", jnp.asarray(s)))
  c = f.shape[-1]
  g = f.reshape(-1, c).T @ f.reshape(-1, c) / f.size
  a = s.reshape(-1, c).T @ s.reshape(-1, c) / s.size
  np.testing.assert_allclose(4.0 / c**2 * float(ours), np.mean((g - a)**2), rtol=1e-4)


@pytest.mark.parametrize("preset", ["crowsonkb", "neural_style"])
@pytest.mark.slow
def test_recipe_presets_run_from_the_cli(tmp_path, tiny_weights_file, monkeypatch, preset):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tiny_weights_file))
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (48, 48, 3), np.uint8)).save(tmp_path / "c.png")
  metrics = tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 'c.png'}", f"--preset={preset}", "--image_size=48",
                  "--num_steps=2", "--finer_steps=1", "--coarsest_size=24",
                  f"--output={tmp_path / 'o.png'}", f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  m = json.loads(metrics.read_text())
  config = StylizeConfig.from_dict(m["config"]).flat()
  recipe = presets.preset(preset).flat()
  assert config["optimizer"] == recipe["optimizer"]
  assert config["style_loss"] == recipe["style_loss"]
  assert config["content_normalization"] == recipe["content_normalization"]
  assert config["tv_normalization"] == recipe["tv_normalization"]
  if preset == "crowsonkb":
    assert config["carry_state"] and [l["width"] for l in m["run"]["scales"]] == [24, 34, 48]
  else:
    assert config["lbfgs_history"] == 100 and len(m["run"]["scales"]) == 1


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
