"""jaxstyle.gatys.start: the starting images of a run: white noise per seed, the photo,
the style, or the arbitrary-style network's output (--init=arbitrary)."""

import numpy as np
import pytest

import jaxstyle
from jaxstyle import arbitrary
from jaxstyle.gatys import start, transfer
from jaxstyle.gatys import config as config_lib
from jaxstyle.weights import arbitrary as weights_lib

from tests.conftest import random_image


def test_noise_is_white_and_per_seed():
  x = np.asarray(start.noise_images([0, 1], (64, 64, 3)))
  assert abs(x.mean() - 0.5) < 0.01 and abs(x.std() - start.NOISE_STD) < 0.01
  np.testing.assert_array_equal(x[1], np.asarray(start.noise_images([1], (64, 64, 3)))[0])
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


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.mark.slow
def test_init_arbitrary_starts_from_the_network_output(weights, tiny_weights):
  """The first image (one Adam step of 1e-9) is stylize_arbitrary's output at the run's
  size, with the first of two styles; the recorded config says so."""
  content = random_image(32, 40, seed=1)
  styles = [random_image(48, 36, seed=2), random_image(40, 40, seed=3)]
  result = transfer.stylize(content, styles, weights=tiny_weights, init="arbitrary",
                            arbitrary_weights=weights, num_steps=1, optimizer="adam",
                            learning_rate=1e-9, log_every=0)
  want = arbitrary.stylize_arbitrary(weights, content, styles[0])
  assert want.shape == content.shape
  np.testing.assert_allclose(result.images[0], want, atol=1e-5)
  other = arbitrary.stylize_arbitrary(weights, content, styles[1])
  assert np.abs(other - want).max() > 1e-4  # The check above tells the two styles apart.
  assert result.run["init"] == "arbitrary"
  assert result.run["arbitrary_weights"]["source"] == weights.meta["source"]
  assert "arbitrary" in config_lib.INITS
  with pytest.raises(ValueError, match="several seeds"):
    transfer.stylize(content, styles, weights=tiny_weights, init="arbitrary",
                     arbitrary_weights=weights, num_seeds=2)
