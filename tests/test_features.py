"""jaxstyle.features: the networks' input as the weights' recorded origin wants it, and
the images it takes."""

import numpy as np
import pytest

from jaxstyle import extract_features
from jaxstyle import weights as weights_lib

from tests.conftest import random_image


def test_preprocessing_follows_the_weights(tiny_weights):
  """The same kernels see BGR 0-255 minus the mean (Caffe) or RGB mean/std (torchvision)."""
  torchvision = weights_lib.NetworkWeights(tiny_weights.params, "torchvision", {})
  image = random_image(8, 8)[None]
  caffe_out = extract_features(image, ["conv1_1"], weights=tiny_weights)["conv1_1"]
  tv_out = extract_features(image, ["conv1_1"], weights=torchvision)["conv1_1"]
  kernel = tiny_weights.params["conv1_1"]["kernel"]
  bias = tiny_weights.params["conv1_1"]["bias"]
  caffe_in = image[0, ..., ::-1] * 255 - np.array([103.939, 116.779, 123.68])
  tv_in = (image[0] - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  for x, out in ((caffe_in, caffe_out), (tv_in, tv_out)):
    # Centre pixel (4, 4): a plain 3x3 correlation.
    expected = np.einsum("hwi,hwio->o", x[3:6, 3:6], kernel) + bias
    np.testing.assert_allclose(out[0, 4, 4], expected, rtol=1e-4, atol=1e-3)


def test_bad_image_shape(tiny_weights):
  with pytest.raises(ValueError, match=r"NHWC \[N, H, W, 3\]"):
    extract_features(random_image(8, 8), ["conv1_1"], weights=tiny_weights)
