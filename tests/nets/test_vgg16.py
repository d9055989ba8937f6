"""VGG-16 (jaxstyle.nets.vgg16) against a NumPy reference."""

import numpy as np
import pytest

from jaxstyle import images as images_lib
from jaxstyle.nets import vgg16

from tests.conftest import TINY_WIDTHS, random_image
from tests.nets import references


def test_vgg16_shapes_at_every_layer(tiny_trunks):
  out = references.features(tiny_trunks["vgg16"], random_image(32, 32)[None], vgg16.LAYER_NAMES)
  assert list(out) == list(vgg16.LAYER_NAMES)
  for name, f in out.items():
    side = 32 // vgg16.layer_stride(name)
    assert f.shape == (1, side, side, vgg16.layer_width(name, TINY_WIDTHS)), name


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_vgg16_equals_the_numpy_reference(tiny_trunks, pooling):
  images = random_image(34, 32, seed=4)[None]
  weights = tiny_trunks["vgg16"]
  got = references.features(weights, images, vgg16.LAYER_NAMES, pooling=pooling)
  want = references.np_vgg16(weights.params,
                             np.asarray(images_lib.preprocess(images, "torchvision")), pooling)
  for name in vgg16.LAYER_NAMES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)
