"""Style controls: scale, rotation, color preservation, spatial masks, scales, batches."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxstyle
from jaxstyle import color, images
from jaxstyle.gatys import inputs, lbfgs
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, layer_guide, make_loss_fn
from jaxstyle.features import network_variables
from jaxstyle.gatys.config import StylizeConfig
from tests.commands import run_main
from tests.conftest import random_image


def run_cli(*args, weights):
  """`jaxstyle ARGS --weights=WEIGHTS`, in this process."""
  return run_main("jaxstyle.stylize", *args, f"--weights={weights}")


def _smooth_image(h, w, seed):
  """A photo-like image: smooth color gradients plus mild noise."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  base = np.stack([0.3 + 0.5 * xx, 0.6 - 0.3 * yy, 0.2 + 0.4 * xx * yy], -1)
  return np.clip(base + 0.05 * rng.normal(size=(h, w, 3)), 0, 1).astype(np.float32)


# Color preservation.

def test_match_color_gives_the_contents_mean_and_covariance():
  content = _smooth_image(40, 50, 0)
  style = np.clip(random_image(30, 30, 1) * [0.5, 0.9, 0.3] + [0.3, 0.0, 0.2], 0, 1)
  matched = color.match_color(style, content)
  c, m = content.reshape(-1, 3), matched.reshape(-1, 3)
  np.testing.assert_allclose(m.mean(0), c.mean(0), atol=2e-3)
  np.testing.assert_allclose(np.cov(m, rowvar=False), np.cov(c, rowvar=False), atol=2e-3)
  assert matched.shape == style.shape


def test_luminance_roundtrip_and_combination():
  content = _smooth_image(20, 30, 2)
  np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(content)), content, atol=1e-6)
  y = np.full(content.shape[:2], 0.4)
  combined = color.combine_luminance(y, content)
  yiq, yiq_content = color.rgb_to_yiq(combined), color.rgb_to_yiq(content)
  inside = np.all((combined > 0.01) & (combined < 0.99), -1)  # Where nothing was clipped.
  np.testing.assert_allclose(yiq[..., 0][inside], 0.4, atol=1e-5)
  np.testing.assert_allclose(yiq[..., 1:][inside], yiq_content[..., 1:][inside], atol=1e-5)
  matched = color.match_luminance(color.luminance(random_image(10, 10, 3)),
                                  color.luminance(content))
  assert abs(matched.mean() - color.luminance(content).mean()) < 1e-6
  assert abs(matched.std() - color.luminance(content).std()) < 1e-6


@pytest.mark.slow
def test_luminance_transfer_keeps_the_contents_chroma(tiny_weights):
  content = _smooth_image(32, 32, 4)
  style = random_image(32, 32, 5)
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=5, log_every=0,
                            preserve_color="luminance")
  out = result.images[0]
  inside = np.all((out > 0.02) & (out < 0.98), -1)
  assert inside.mean() > 0.5
  iq, iq_content = color.rgb_to_yiq(out)[..., 1:], color.rgb_to_yiq(content)[..., 1:]
  np.testing.assert_allclose(iq[inside], iq_content[inside], atol=1e-4)
  # Without it, the colors change.
  plain = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=5, log_every=0)
  assert np.abs(color.rgb_to_yiq(plain.images[0])[..., 1:] - iq_content).mean() > 0.01


def test_histogram_preservation_recolors_the_style():
  content = _smooth_image(32, 40, 6)
  style = random_image(24, 24, 7)
  [matched] = inputs.prepare_styles(content, [style], preserve_color="histogram")
  np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0),
                             atol=0.02)
  [gray] = inputs.prepare_styles(content, [style], preserve_color="luminance")
  assert np.allclose(gray[..., 0], gray[..., 1]) and np.allclose(gray[..., 1], gray[..., 2])


# Style scale and rotation.

def test_rotation_leaves_no_empty_corners():
  ones = np.ones((40, 60, 3), np.float32)
  for degrees in (30, 60, -45, 10, 135):
    rotated = images.rotate_image(ones, degrees)
    assert rotated.min() > 0.999, degrees
    assert rotated.shape[0] * rotated.shape[1] > 0.25 * 40 * 60
  x = random_image(40, 60, 0)
  np.testing.assert_array_equal(images.rotate_image(x, 90), np.rot90(x))
  np.testing.assert_array_equal(images.rotate_image(x, 0), x)
  assert images.rotate_image(x, 30).shape[:2] == (23, 40)


def test_style_scale_resizes_relative_to_the_content():
  content = random_image(60, 80, 0)
  style = random_image(100, 50, 1)
  [scaled] = inputs.prepare_styles(content, [style], style_scale=0.5)
  assert scaled.shape == (40, 20, 3)  # Longer side = 0.5 x 80.
  [turned] = inputs.prepare_styles(content, [style], style_rotation=90)
  assert turned.shape == (50, 100, 3)


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


# Spatial control.

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
  content = _smooth_image(h, w, 0)
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


# Coarse to fine.

@pytest.mark.slow
def test_scales_refine_from_the_upsampled_coarse_result(tiny_weights):
  """scales=2: the fine level starts from the coarse level's last image, upsampled.

  Seen through the callback: the first fine image is within one first L-BFGS step
  (lbfgs.FIRST_STEP per pixel) of the upsampled coarse result, and its loss is far below
  that of a fresh start from white noise at the full size after one step (measured
  7% at 32x32, 6% at 40x48). Fails if the fine level restarts from noise (0.75 from the noise start), starts
  from the coarse start or a wrongly resized image, or the steps are miscounted.
  """
  content, style = _smooth_image(32, 32, 0), _smooth_image(32, 32, 1)[::-1].copy()
  seen = {}
  paper = dict(init="noise", content_normalization="sum", style_weight=100.0)
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=6, log_every=0,
                            scales=2, scale_steps=[6, 3], callback_every=1,
                            callback=lambda k, x: seen.setdefault(k, x), **paper)
  assert result.images.shape == (1, 32, 32, 3)
  assert [(l["height"], l["width"], l["steps"]) for l in result.run["scales"]] == [
      (16, 16, 6), (32, 32, 3)]
  assert len(result.history["total"]) == 6 + 3 + 1 and result.steps == 9
  assert np.all(np.diff(result.history["time"]) >= 0)
  assert sorted(seen) == list(range(1, 10))
  assert seen[6].shape == (1, 16, 16, 3) and seen[7].shape == (1, 32, 32, 3)
  upsampled = images.resize_to(np.clip(seen[6][0], 0, 1), 32, 32)
  assert np.abs(seen[7][0] - upsampled).max() <= lbfgs.FIRST_STEP + 1e-5
  np.testing.assert_array_equal(np.clip(seen[9], 0, 1), result.images)
  fresh = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=1, log_every=0,
                           **paper)
  assert result.history["total"][7, 0] < 0.25 * fresh.history["total"][1, 0]
  with pytest.raises(ValueError, match="scale_steps"):
    jaxstyle.stylize(content, style, weights=tiny_weights, scales=2, scale_steps=[5])


def test_blend_weights_are_normalized(tiny_weights):
  a = ObjectiveConfig(style_blend_weights=(1.0, 3.0)).blend_weights(2)
  np.testing.assert_allclose(a, (0.25, 0.75))
  assert ObjectiveConfig(guided=True).blend_weights(2) == (1.0, 1.0)
  with pytest.raises(ValueError, match="non-negative"):
    ObjectiveConfig(style_blend_weights=(1.0, -1.0))


# The command line: the flags and batches.

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  d = tmp_path_factory.mktemp("batch")
  for name, seed in (("a.png", 0), ("b.jpg", 1)):
    Image.fromarray((random_image(32, 32, seed) * 255).astype(np.uint8)).save(d / name)
  (d / "broken.png").write_bytes(b"\x89PNG not really")
  (d / "readme.txt").write_text("not an image either, and not listed")
  s = tmp_path_factory.mktemp("styles")
  for name, seed in (("s1.png", 2), ("s2.png", 3)):
    Image.fromarray((random_image(32, 32, seed) * 255).astype(np.uint8)).save(s / name)
  mask = np.zeros((32, 32), np.uint8)
  mask[:, :16] = 255
  Image.fromarray(mask).save(s / "left.png")
  Image.fromarray(255 - mask).save(s / "right.png")
  return d, s


def test_batch_skips_a_bad_file_and_summarizes(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  done = run_cli(f"--content={contents}", f"--style={styles / 's1.png'},{styles / 's2.png'}",
                 "--each_style", f"--output_dir={tmp_path}", "--image_size=32",
                 "--num_steps=2", "--log_every=0", weights=tiny_weights_file)
  assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
  written = sorted(p.name for p in tmp_path.glob("*.png"))
  assert written == ["a__s1.png", "a__s2.png", "b__s1.png", "b__s2.png"]
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert len(summary["written"]) == 4 and len(summary["failed"]) == 2
  assert all("broken.png" in f["content"] for f in summary["failed"])
  assert "batch: 4 of 6 written" in done.stderr
  assert "2 of 6 batch item(s) failed" in done.stderr.strip().splitlines()[-1]
  assert json.loads((tmp_path / "a__s2.json").read_text())["steps"] == 2


@pytest.mark.slow
def test_glob_blends_styles_into_one_output_per_content(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  done = run_cli(f"--content={contents}/[ab].*", f"--style={styles / 's1.png'},"
                 f"{styles / 's2.png'}", f"--output_dir={tmp_path}", "--output=x.jpg",
                 "--image_size=32", "--num_steps=2", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["a__s1+s2.jpg", "b__s1+s2.jpg"]


@pytest.mark.slow
def test_control_flags(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  out = tmp_path / "o.png"
  metrics = tmp_path / "m.json"
  done = run_cli(f"--content={contents / 'a.png'}",
                 f"--style={styles / 's1.png'},{styles / 's2.png'}",
                 f"--style_masks={styles / 'left.png'},{styles / 'right.png'}",
                 "--style_scale=0.8", "--style_rotation=30", "--preserve_color=histogram",
                 "--scales=2", "--scale_steps=3,2", "--tv_weight=1", f"--output={out}",
                 f"--metrics_json={metrics}", "--image_size=32", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert Image.open(out).size == (32, 32)
  m = json.loads(metrics.read_text())
  config = StylizeConfig.from_dict(m["config"])
  assert m["run"]["guided"] and config.images.style_rotation == 30
  assert config.images.style_scale == 0.8 and config.images.preserve_color == "histogram"
  assert len(m["run"]["scales"]) == 2 and config.schedule.scale_steps == (3, 2)
  done = run_cli(f"--content={contents / 'a.png'}", f"--style={styles / 's1.png'}",
                 f"--style_masks={styles / 'left.png'},{styles / 'right.png'}",
                 f"--output={out}", weights=tiny_weights_file)
  assert done.returncode == 1 and "one mask per --style" in done.stderr
  done = run_cli(f"--content={contents}", f"--style={styles / 's1.png'}",
                 f"--output={out}", weights=tiny_weights_file)
  assert done.returncode == 1 and "give --output_dir" in done.stderr
