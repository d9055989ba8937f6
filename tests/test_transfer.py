import jax
import numpy as np
import pytest

import jaxstyle
from jaxstyle.gatys import transfer
from jaxstyle.errors import UserError
from tests.conftest import random_image


def _smooth_image(h, w, seed):
  """Low-frequency colors: something content and style losses can both describe."""
  rng = np.random.default_rng(seed)
  small = rng.uniform(size=(4, 4, 3)).astype(np.float32)
  return jaxstyle.images.resize_to(small, h, w)


@pytest.fixture(scope="module")
def pair():
  return _smooth_image(32, 40, 0), random_image(32, 32, 1)


def test_stylize_lowers_both_losses(tiny_weights, pair):
  content, style = pair
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=40, log_every=0,
                            content_layers=["conv2_1"],
                            style_layers=["conv1_1", "conv2_1", "conv3_1"])
  assert result.images.shape == (1, 32, 40, 3)
  assert result.images.min() >= 0 and result.images.max() <= 1
  h = result.history
  assert h["total"][-1, 0] < 0.05 * h["total"][0, 0]
  assert h["style"][-1, 0] < 0.05 * h["style"][0, 0]
  # The weighted total is what L-BFGS lowers; here it is mostly style.
  np.testing.assert_allclose(h["total"], h["content"] + 100.0 * h["style"], rtol=1e-4)
  assert result.config["style_layers"] == ("conv1_1", "conv2_1", "conv3_1")


def test_same_seed_same_image_and_sweeps_match_single_runs(tiny_weights, pair):
  content, style = pair
  kwargs = dict(weights=tiny_weights, num_steps=8, log_every=0)
  sweep = jaxstyle.stylize(content, style, seed=5, num_seeds=3, **kwargs)
  assert sweep.seeds == [5, 6, 7] and sweep.images.shape == (3, 32, 40, 3)
  again = jaxstyle.stylize(content, style, seed=5, num_seeds=3, **kwargs)
  np.testing.assert_array_equal(sweep.images, again.images)
  single = jaxstyle.stylize(content, style, seed=6, **kwargs)
  np.testing.assert_allclose(single.images[0], sweep.images[1], atol=2e-3)
  assert np.abs(sweep.images[0] - sweep.images[1]).mean() > 0.01  # Seeds differ.


def test_noise_is_white_and_per_seed():
  x = np.asarray(transfer.noise_images([0, 1], (64, 64, 3)))
  assert abs(x.mean() - 0.5) < 0.01 and abs(x.std() - transfer.NOISE_STD) < 0.01
  np.testing.assert_array_equal(x[1], np.asarray(transfer.noise_images([1], (64, 64, 3)))[0])
  # White: neighbouring pixels are uncorrelated.
  c = np.corrcoef(x[0, :, :-1].ravel(), x[0, :, 1:].ravel())[0, 1]
  assert abs(c) < 0.05


@pytest.mark.parametrize("init", ["content", "style"])
def test_init_from_images(tiny_weights, pair, init):
  content, style = pair
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=1, init=init,
                            optimizer="adam", learning_rate=1e-9, log_every=0)
  start = content if init == "content" else jaxstyle.images.resize_to(style, 32, 40)
  np.testing.assert_allclose(result.images[0], start, atol=1e-5)


def test_every_optimizer_runs(tiny_weights, pair):
  content, style = pair
  for optimizer in ("adam", "sgd", "adagrad", "optax_lbfgs"):
    result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=3,
                              optimizer=optimizer, log_every=0)
    assert result.history["total"].shape == (4, 1), optimizer
    assert np.all(np.isfinite(result.history["total"]))


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


def test_too_large_for_memory_is_a_clear_error(tiny_weights, monkeypatch):
  monkeypatch.setattr(transfer, "available_memory_bytes", lambda: 2**30)
  big = np.zeros((4000, 3000, 3), np.float32)
  message = r"3000x4000 px .* needs about .* GiB .* smaller --image_size"
  with pytest.raises(UserError, match=message):
    jaxstyle.stylize(big, big[:64, :64], weights=jaxstyle.weights.random_weights())


def test_memory_estimate_grows_with_size_and_seeds():
  kw = dict(layers=["conv5_1"], method="lbfgs", history_size=20)
  small = transfer.estimate_memory_bytes(256, 256, num_seeds=1, **kw)
  assert transfer.estimate_memory_bytes(512, 512, num_seeds=1, **kw) > 3.5 * small - 4 * 20_100_000
  assert transfer.estimate_memory_bytes(256, 256, num_seeds=4, **kw) > 3 * small


def test_module_and_function_share_the_name(tiny_weights, pair):
  import importlib
  module = importlib.import_module("jaxstyle.stylize")
  content, style = pair
  result = module(content, style, weights=tiny_weights, num_steps=1, log_every=0)
  assert result.images.shape == (1, 32, 40, 3)
  assert jax.numpy.isfinite(result.history["total"]).all()
