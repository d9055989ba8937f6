"""jaxstyle.arbitrary: arbitrary style in one forward pass (Ghiasi et al. 2017): the
library API, on the real weights and on random ones."""


import numpy as np
import pytest

from jaxstyle import arbitrary, images
from jaxstyle.errors import UserError
from jaxstyle.weights import arbitrary as weights_lib

from tests.conftest import random_image
from tests.nets.conftest import predict_style




@pytest.fixture(scope="module")
def paintings(shared_images):
  return {name: images.load_image(shared_images / f"{name}.jpg")
          for name in ("starry_night", "the_scream")}


@pytest.mark.slow
def test_real_style_transfer_takes_the_style_and_keeps_the_photo(real_arbitrary_weights, paintings,
                                                                shared_images):
  photo = images.load_image(shared_images / "tubingen.jpg", 96)
  starry, scream = (arbitrary.stylize_arbitrary(real_arbitrary_weights, photo, p)
                    for p in paintings.values())
  assert starry.shape == photo.shape
  rgb = lambda image: image.reshape(-1, 3).mean(0)
  assert rgb(starry)[2] - rgb(starry)[0] > 0.1  # The Starry Night is blue...
  assert rgb(scream)[0] - rgb(scream)[2] > 0.1  # ...The Scream orange.
  for out in (starry, scream):  # The photo's layout stays.
    assert np.corrcoef(out.mean(-1).ravel(), photo.mean(-1).ravel())[0, 1] > 0.5
  own = arbitrary.stylize_arbitrary(real_arbitrary_weights, photo, paintings["starry_night"],
                                    strength=0)
  assert np.abs(own - photo).mean() < min(np.abs(o - photo).mean() for o in (starry, scream))


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.mark.slow
def test_predict_is_the_network_on_the_images_as_they_are(weights):
  x = np.stack([random_image(32, 48, seed=s) for s in (0, 1)])
  np.testing.assert_allclose(arbitrary.predict(weights, x), predict_style(weights, x), atol=1e-5)
  with pytest.raises(ValueError, match=r"RGB \[N, H, W, 3\]"):
    arbitrary.predict(weights, x[0])


@pytest.mark.slow
def test_blend_and_strength_interpolate_style_vectors(weights):
  photo = random_image(24, 32, seed=3)
  a, b = (arbitrary.style_vector(weights, random_image(40, 60, seed=s)) for s in (4, 5))
  np.testing.assert_allclose(arbitrary.blend_vectors(np.stack([a, b]), [3, 1]),
                             0.75 * a + 0.25 * b, atol=1e-6)
  own = arbitrary.style_vector(weights, photo)
  mixed = 0.6 * (0.75 * a + 0.25 * b) + 0.4 * own
  got = arbitrary.stylize_arbitrary(weights, photo, [a, b], blend_weights=[3, 1], strength=0.6)
  np.testing.assert_allclose(got, arbitrary.transform(weights, photo[None], mixed)[0], atol=1e-5)
  np.testing.assert_allclose(arbitrary.stylize_arbitrary(weights, photo, a, strength=0.0),
                             arbitrary.transform(weights, photo[None], own)[0], atol=1e-5)
  with pytest.raises(UserError, match="as many blend weights"):
    arbitrary.blend_vectors(np.stack([a, b]), [1])
  with pytest.raises(UserError, match="non-negative"):
    arbitrary.blend_vectors(np.stack([a, b]), [1, -1])
  with pytest.raises(UserError, match="between 0 and 1"):
    arbitrary.stylize_arbitrary(weights, photo, a, strength=1.5)


def test_style_vector_reads_the_central_square(weights):
  square = random_image(32, 32, seed=6)
  wide = np.concatenate([random_image(32, 16, seed=7), square, random_image(32, 16, seed=8)], 1)
  np.testing.assert_allclose(arbitrary.style_vector(weights, wide, 32),
                             arbitrary.style_vector(weights, square, 32), atol=1e-5)


def test_output_size():
  assert arbitrary.output_shape(300, 400) == (300, 400)
  assert arbitrary.output_shape(1500, 2000) == (768, 1024)  # Capped by default.
  assert arbitrary.output_shape(1500, 2000, 1600) == (1200, 1600)
  assert arbitrary.output_shape(30, 40, 20) == (15, 20)
