import jax
import numpy as np
import pytest

from jaxstyle import LAYER_NAMES, VGG19, extract_features
from jaxstyle.nets.vgg import layer_stride
from jaxstyle.features import network_variables
from tests.conftest import TINY_WIDTHS, random_image


def test_layer_names_are_the_papers():
  assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
  assert sum(n.startswith("conv") for n in LAYER_NAMES) == 16
  assert LAYER_NAMES[-1] == "pool5"
  assert "conv4_2" in LAYER_NAMES and "relu5_4" in LAYER_NAMES


def test_shapes_of_every_layer(tiny_weights):
  images = np.stack([random_image(64, 48, 0), random_image(64, 48, 1)])
  feats = extract_features(images, LAYER_NAMES, weights=tiny_weights)
  for name in LAYER_NAMES:
    s = layer_stride(name)
    width = TINY_WIDTHS[int(name[4]) - 1]
    assert feats[name].shape == (2, 64 // s, 48 // s, width), name
  assert np.all(np.asarray(feats["relu3_1"]) >= 0)
  np.testing.assert_allclose(feats["relu2_2"], np.maximum(feats["conv2_2"], 0))


def test_max_and_average_pooling(tiny_weights):
  image = random_image(16, 16)[None]
  for pooling, reduce in (("max", np.max), ("avg", np.mean)):
    f = extract_features(image, ["relu1_2", "pool1"], weights=tiny_weights, pooling=pooling)
    relu = np.asarray(f["relu1_2"][0])
    expected = reduce(relu.reshape(8, 2, 8, 2, -1), axis=(1, 3))
    np.testing.assert_allclose(f["pool1"][0], expected, rtol=1e-5, atol=1e-5)


def test_computes_only_up_to_the_deepest_layer(tiny_weights):
  """Parameters of deeper layers are never touched: apply works without them."""
  params = {"params": {k: v for k, v in network_variables(tiny_weights)["params"].items()
                       if k in ("conv1_1", "conv1_2", "conv2_1")}}
  model = VGG19(widths=TINY_WIDTHS)
  x = np.zeros((1, 16, 16, 3), np.float32)
  out = model.apply(params, x, ("conv1_1", "relu2_1"))
  assert set(out) == {"conv1_1", "relu2_1"}
  jaxpr = str(jax.make_jaxpr(lambda p: model.apply(p, x, ("conv2_1",)))(params))
  assert jaxpr.count("conv_general_dilated") == 3


def test_unknown_layer_lists_valid_ones(tiny_weights):
  with pytest.raises(ValueError, match="unknown VGG-19 layer.*conv4_5.*valid layers are: conv1_1"):
    extract_features(random_image(8, 8)[None], ["conv4_5"], weights=tiny_weights)
