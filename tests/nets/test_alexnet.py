"""AlexNet (jaxstyle.nets.alexnet) against a NumPy reference."""

import numpy as np
import pytest

from jaxstyle import images as images_lib
from jaxstyle.nets import alexnet

from tests.conftest import TINY_WIDTHS, random_image
from tests.nets import references


def test_alexnet_shapes_at_every_layer(tiny_trunks):
  out = references.features(tiny_trunks["alexnet"], random_image(67, 67)[None], alexnet.LAYER_NAMES)
  # 67 -> conv1 16 -> pool1 7 -> pool2 3 -> pool5 1 (whole windows only).
  sides = {"conv1": 16, "pool1": 7, "conv2": 7, "pool2": 3, "conv5": 3, "pool5": 1}
  assert list(out) == list(alexnet.LAYER_NAMES)
  for name, f in out.items():
    assert f.shape[0] == 1 and f.shape[3] == alexnet.layer_width(name, TINY_WIDTHS), name
    assert f.shape[1:3] == (alexnet.output_size(name, 67),) * 2, name
  for name, side in sides.items():
    assert out[name].shape[1] == side, name


def test_alexnet_too_small_images_raise(tiny_trunks):
  with pytest.raises(ValueError, match="too small for AlexNet's pool5.*63x63"):
    references.features(tiny_trunks["alexnet"], random_image(40, 40)[None], ["pool5"])


def test_alexnet_equals_the_numpy_reference(tiny_trunks):
  images = np.stack([random_image(71, 67, seed=s) for s in (2, 3)])
  weights = tiny_trunks["alexnet"]
  got = references.features(weights, images, alexnet.LAYER_NAMES)
  want = references.np_alexnet(weights.params,
                               np.asarray(images_lib.preprocess(images, "torchvision")))
  for name in alexnet.LAYER_NAMES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)
