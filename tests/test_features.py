"""jaxstyle.features: the networks' input as the weights' recorded origin wants it, and
the images it takes."""

import numpy as np
import pytest

from jaxstyle import extract_features, features
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


def test_network_variables_stop_at_the_deepest_layer_read(tiny_weights):
  """A run's variables hold the layers up to the deepest it reads and nothing past it
  (the real VGG-19's conv5_2..conv5_4 with the CPU kernels: 110 MiB), share each
  layer's arrays with every other depth asked for, and give the same features."""
  import jax  # pylint: disable=import-outside-toplevel
  full = features.network_variables(tiny_weights, "cpu")
  part = features.network_variables(tiny_weights, "cpu", ["relu3_1", "conv2_1"])
  assert list(part["params"]) == list(part["derived"]) == [
      "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
  assert part["derived"]["conv3_1"] is full["derived"]["conv3_1"]
  assert part["params"]["conv1_1"] is full["params"]["conv1_1"]
  assert features.network_variables(tiny_weights, "cpu", ("conv2_1", "conv3_1")) is part
  apply = features.feature_fn(tiny_weights.widths, tiny_weights.preprocessing, kernels="cpu")
  image = random_image(16, 16)[None]
  got, want = (jax.jit(apply, static_argnums=2)(v, image, ("relu3_1", "conv2_1"))
               for v in (part, full))
  for layer in want:
    np.testing.assert_array_equal(got[layer], want[layer])
  with pytest.raises(ValueError, match="conv9_9"):
    features.network_variables(tiny_weights, "cpu", ["conv9_9"])
