"""jaxstyle.gatys.transfer: `stylize`, the Python API, on the tiny random network: it
lowers the losses with every optimizer and style loss, sweeps seeds and loss weights,
takes a config and says what it ran."""

import numpy as np
import pytest

import jaxstyle
from jaxstyle import losses
from jaxstyle.gatys import config as config_lib
from jaxstyle.gatys import start, transfer
from jaxstyle.gatys.config import StylizeConfig
from tests.conftest import lowered_programs, random_image


@pytest.mark.slow
def test_stylize_lowers_both_losses(tiny_weights, pair):
  content, style = pair
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=40, log_every=0,
                            content_layers=["conv2_1"], init="noise",
                            content_normalization="sum", style_weight=100.0,
                            style_layers=["conv1_1", "conv2_1", "conv3_1"])
  assert result.images.shape == (1, 32, 40, 3)
  assert result.images.min() >= 0 and result.images.max() <= 1
  h = result.history
  assert h["total"][-1, 0] < 0.05 * h["total"][0, 0]
  assert h["style"][-1, 0] < 0.05 * h["style"][0, 0]
  # The weighted total is what L-BFGS lowers; here it is mostly style.
  np.testing.assert_allclose(h["total"], h["content"] + 100.0 * h["style"], rtol=1e-4)
  assert result.run["style_layers"] == ("conv1_1", "conv2_1", "conv3_1")


@pytest.mark.slow
def test_sweeps_start_like_single_runs_and_reach_similar_losses(tiny_weights, pair):
  """What README "Seeds" promises for image i of a sweep from seed S and a single run with
  seed S+i, on any machine: the same starting noise bit for bit, the same starting loss
  and first step to float32 rounding, and a loss as low after 20 steps.

  Not the same image after a few steps: one seed runs unbatched (optimize._programs), so
  the two programs round differently, and the optimization amplifies that. Measured here
  (32x40 px, tiny VGG): a 1-ulp change of the start moves the image by up to 0.07 and
  the loss by up to 75% after 8 steps; on an AMD EPYC the sweep and the single run
  differed by 0.033 after 8 steps. After 20 steps every start of seeds 0-15 is at
  0.76-1.17% of its starting loss (sweep or single; max/min 1.54 over all of them), a
  sweep's image and its single run within 10% of each other.

  Fails for a sweep that shifts the seeds (S+i+1) or gives every seed one noise, that
  shares optimizer state between seeds (e.g. one first-step scale for all), or that
  leaves some seeds unoptimized.
  """
  content, style = pair
  shape = (32, 40, 3)
  np.testing.assert_array_equal(np.asarray(start.noise_images([5, 6, 7], shape))[1],
                                np.asarray(start.noise_images([6], shape))[0])
  kwargs = dict(weights=tiny_weights, num_steps=20, log_every=0, init="noise",
                content_normalization="sum", style_weight=100.0)
  sweep = jaxstyle.stylize(content, style, seed=5, num_seeds=3, **kwargs)
  single = jaxstyle.stylize(content, style, seed=6, **kwargs)
  assert sweep.seeds == [5, 6, 7] and sweep.images.shape == (3,) + shape
  losses, alone = sweep.history["total"], single.history["total"][:, 0]
  # The start: one image, evaluated by two programs (measured: equal here).
  np.testing.assert_allclose(losses[0, 1], alone[0], rtol=1e-5)
  # The first step is -g scaled so that no pixel moves by more than lbfgs.FIRST_STEP:
  # smooth in g, so rounding stays rounding (measured: 1e-7; 3e-6 after a 1e-5 change
  # of the start).
  np.testing.assert_allclose(losses[1, 1], alone[1], rtol=1e-4)
  # The other seeds start elsewhere: their losses differ by far more (~1%).
  assert np.all(np.abs(losses[0, [0, 2]] / losses[0, 1] - 1) > 1e-3)
  assert np.abs(sweep.images[0] - sweep.images[1]).mean() > 0.01
  # After 20 steps: each below 5% of its start (4x the largest measured), and within a
  # factor of 2 of each other (more than the spread between unrelated starts).
  assert np.all(losses[-1] < 0.05 * losses[0]) and alone[-1] < 0.05 * alone[0]
  assert 0.5 < losses[-1, 1] / alone[-1] < 2.0


@pytest.mark.slow
def test_same_seed_same_image(tiny_weights, pair):
  """Run twice, the same program on the same machine gives the same images and losses
  bit for bit (XLA:CPU is deterministic), a single seed as a sweep. Fails for state
  kept between runs (a cached optimizer state, a donated buffer read again, a PRNG key
  not derived from the seed alone)."""
  content, style = pair
  kwargs = dict(weights=tiny_weights, num_steps=8, log_every=0, seed=5)
  for num_seeds in (1, 3):
    first = jaxstyle.stylize(content, style, num_seeds=num_seeds, **kwargs)
    again = jaxstyle.stylize(content, style, num_seeds=num_seeds, **kwargs)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.history["total"], again.history["total"])


# sgd: the default learning rate (10) suits VGG-19 (experiments/optimizers.py) but
# diverges on the tiny random network after ~8 steps.
@pytest.mark.parametrize("optimizer, learning_rate", [
    ("adam", None), ("sgd", 3.0), ("adagrad", None), ("optax_lbfgs", None),
    ("jaxopt_lbfgs", None)])
@pytest.mark.slow
def test_every_optimizer_lowers_the_loss_and_changes_the_image(tiny_weights, pair, optimizer,
                                                                 learning_rate):
  """12 steps from white noise: below 20% of the starting loss (measured 1-4%) and the
  image moved away from the noise. Fails for a no-op optimizer, a step uphill, or one
  whose steps are too small to matter (e.g. an unscaled loss for sgd)."""
  content, style = pair
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=12,
                            optimizer=optimizer, learning_rate=learning_rate, log_every=0)
  total = result.history["total"][:, 0]
  assert result.stopped is None and total.shape == (13,)
  assert total[-1] < 0.2 * total[0], total / total[0]
  noise = np.clip(np.asarray(start.noise_images([0], (32, 40, 3)))[0], 0, 1)
  change = np.abs(result.images[0] - noise)
  assert change.mean() > 0.02 and change.max() > 0.1, (change.mean(), change.max())


def test_api_errors(tiny_weights, pair):
  content, style = pair
  with pytest.raises(ValueError, match="unknown VGG-19 layer"):
    jaxstyle.stylize(content, style, weights=tiny_weights, style_layers=["conv9_9"])
  with pytest.raises(ValueError, match=r"RGB image \[H, W, 3\]"):
    jaxstyle.stylize(content[..., 0], style, weights=tiny_weights)
  with pytest.raises(ValueError, match="num_steps must be positive"):
    jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=0)
  with pytest.raises(ValueError, match="white noise"):
    jaxstyle.stylize(content, style, weights=tiny_weights, init="content", num_seeds=2)


@pytest.mark.slow
def test_the_defaults_start_from_the_photo_and_go_coarse_to_fine(tiny_weights):
  """init="auto": the content photo for one seed, white noise for several; scales=None:
  one scale below 512 px, two from 512, three from 1024; the mean content loss."""
  assert config_lib.resolve_init("auto", 1) == "content"
  assert config_lib.resolve_init("auto", 4) == "noise"
  assert config_lib.resolve_init("style", 1) == "style"
  assert [config_lib.auto_scales(h, w) for h, w in
          [(192, 256), (383, 511), (384, 512), (768, 1024), (2048, 1536), (40, 30)]] == [
              1, 1, 2, 3, 4, 1]
  content, style = random_image(32, 40, 0), random_image(32, 32, 1)
  one = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=2, log_every=0)
  assert one.run["init"] == "content" and one.config.start.init == "auto"
  assert one.run["content_normalization"] == "mean" and len(one.run["scales"]) == 1
  np.testing.assert_allclose(one.history["content"][0, 0], 0.0, atol=1e-6)  # The photo.
  many = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=2, num_seeds=2,
                          log_every=0)
  assert many.run["init"] == "noise" and many.history["content"][0, 0] > 0


def test_stylize_takes_a_config_and_overrides_and_returns_its_config(tiny_weights):
  """A config and flat overrides reach the run: the result carries the config as used,
  and the same settings given either way give the same images."""
  content, style = random_image(32, 40, 0), random_image(32, 32, 1)
  config = StylizeConfig().replace(num_steps=2, log_every=0, init="noise", seed=3)
  given = jaxstyle.stylize(content, style, config, weights=tiny_weights, tv_weight=1.0)
  assert given.config == config.replace(tv_weight=1.0)
  assert given.steps == 2 and given.seeds == [3] and given.run["tv_weight"] == 1.0
  flat = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=2, log_every=0,
                          init="noise", seed=3, tv_weight=1.0)
  np.testing.assert_array_equal(flat.images, given.images)
  with pytest.raises(TypeError, match="unknown setting 'num_step'"):
    jaxstyle.stylize(content, style, weights=tiny_weights, num_step=2)
  with pytest.raises(ValueError, match="init='image' needs the image"):
    jaxstyle.stylize(content, style, config.replace(init="image"), weights=tiny_weights)
  image = jaxstyle.stylize(content, style, config, weights=tiny_weights, init=content)
  assert image.config.start.init == "image"
  np.testing.assert_allclose(image.history["content"][0, 0], 0.0, atol=1e-6)


def test_image_size_in_the_config_resizes_the_content(tiny_weights):
  content, style = random_image(40, 50, 0), random_image(32, 32, 1)
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=1, log_every=0,
                            image_size=40)
  assert result.images.shape == (1, 32, 40, 3)


@pytest.mark.parametrize("rate", [-1.0, 0.0, float("nan")])
def test_stylize_api_refuses_a_learning_rate_that_is_not_positive(tiny_weights, rate):
  with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
    transfer.stylize(random_image(24, 32), random_image(32, 32, 1), weights=tiny_weights,
                     optimizer="adam", learning_rate=rate, num_steps=1)


@pytest.mark.parametrize("style_loss", losses.STYLE_LOSSES)
@pytest.mark.slow
def test_every_style_loss_lowers_its_loss_with_seed_sweeps(tiny_weights, style_loss):
  """Two seeds from white noise: finite, the style term falls well below its start, the
  seeds stay distinct, and the loss recorded is the chosen one."""
  content, style = random_image(32, 32, 0), random_image(24, 32, 1)  # Two sizes.
  result = transfer.stylize(content, style, weights=tiny_weights, style_loss=style_loss,
                            num_steps=25, num_seeds=2, log_every=0, style_weight=1e3,
                            optimizer="adam", learning_rate=0.05)
  h = result.history["style"]
  assert result.stopped is None and np.all(np.isfinite(result.history["total"]))
  assert np.all(h[-1] < 0.5 * h[0]), h[[0, -1]]
  assert not np.allclose(result.images[0], result.images[1])
  assert result.run["style_loss"] == style_loss


@pytest.mark.slow
def test_a_weight_sweep_is_one_program_whose_points_run_like_single_runs(tiny_weights):
  """style_weight x content_weight (2 x 2 points) x 2 seeds, two scales: one step
  program per scale for all 8 images; each image starts as the single run at its point
  and seed (same start, first step to rounding: README "Seeds") and ends at a similar
  loss. Fails for a sweep that compiles per point, gives a point another point's weights
  or start, or shares optimizer state between images."""
  content = transfer.resize_to(random_image(4, 4, 0), 36, 44)
  style = random_image(32, 32, 1)
  kwargs = dict(weights=tiny_weights, num_steps=12, log_every=0, init="noise",
                content_normalization="sum", scales=2)
  with lowered_programs() as lowered:
    sweep = transfer.stylize(content, style, seed=5, num_seeds=2, style_weight=(10.0, 100.0),
                             content_weight=(1.0, 2.0), **kwargs)
  assert lowered.count("jit(step_all)") == 2, lowered  # One per scale.
  points = [{"content_weight": c, "style_weight": s} for c in (1.0, 2.0) for s in (10.0, 100.0)]
  assert sweep.points == [p for p in points for _ in range(2)]
  assert sweep.seeds == [5, 6] * 4 and sweep.images.shape == (8, 36, 44, 3)
  assert sweep.config.objective.style_weight == (10.0, 100.0)
  assert sweep.run["style_weight"] == (10.0, 100.0)
  assert sweep.run["content_weight"] == (1.0, 2.0)
  h = sweep.history
  for i in (1, 6):  # (cw 1, sw 10, seed 6) and (cw 2, sw 100, seed 5).
    single = transfer.stylize(content, style, num_seeds=1, seed=sweep.seeds[i],
                              **sweep.points[i], **kwargs).history
    np.testing.assert_allclose(h["total"][0, i], single["total"][0, 0], rtol=1e-5)
    np.testing.assert_allclose(h["total"][1, i], single["total"][1, 0], rtol=1e-4)
    assert 0.5 < h["total"][-1, i] / single["total"][-1, 0] < 2.0
    np.testing.assert_allclose(
        h["total"][:, i], sweep.points[i]["content_weight"] * h["content"][:, i]
        + sweep.points[i]["style_weight"] * h["style"][:, i], rtol=1e-4)
  # Every image was optimized at the coarse scale (steps 0-12; the fine scale's 6 follow).
  assert np.all(h["total"][12] < 0.2 * h["total"][0]) and h["total"].shape == (19, 8)
  # Seeds differ, points differ.
  assert np.abs(sweep.images[0] - sweep.images[1]).mean() > 0.01
  assert np.abs(sweep.images[0] - sweep.images[2]).mean() > 0.001


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


@pytest.mark.slow
def test_stylize_reports_the_kernels_and_precision_it_ran(tiny_weights):
  result = jaxstyle.stylize(random_image(24, 24), random_image(24, 24, 1), weights=tiny_weights,
                            num_steps=2, log_every=0, kernels="xla", precision="bfloat16")
  assert result.run["kernels"] == "xla" and result.config.backend.precision == "bfloat16"
  auto = jaxstyle.stylize(random_image(24, 24), random_image(24, 24, 1), weights=tiny_weights,
                          num_steps=2, log_every=0)
  assert auto.run["kernels"] == "cpu" and auto.run["steps_per_call"] == 1
