"""VGG-16 and AlexNet in torchvision's form (jaxstyle.nets.vgg16 / alexnet), together:
layer names, strides, what they compute, and torchvision's `features` on the same
weights (recorded by benchmarks/record_fixtures.py in tests/fixtures/; torch is not a
test dependency)."""

import pytest

from benchmarks import record_fixtures
from jaxstyle import images as images_lib
from jaxstyle.nets import alexnet, vgg16

from tests.conftest import TINY_WIDTHS, random_image
from tests.nets import references


def test_layer_names_are_the_papers():
  assert vgg16.LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
  assert vgg16.LAYER_NAMES[-3:] == ("conv5_3", "relu5_3", "pool5")
  assert len(vgg16.CONV_LAYERS) == 13
  assert alexnet.LAYER_NAMES == ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2",
                                 "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5")


@pytest.mark.parametrize("net, bad", [(vgg16, "conv3_4"), (alexnet, "relu1_1")])
def test_unknown_layers_name_the_valid_ones(net, bad):
  with pytest.raises(ValueError, match=f"unknown .* layer.*{bad}.*valid layers are: .*pool5"):
    net.check_layers([bad])
  with pytest.raises(ValueError, match="no layers"):
    net.check_layers([])
  with pytest.raises(ValueError, match=bad):
    net.layer_stride(bad)


def test_layer_strides():
  assert [vgg16.layer_stride(n) for n in ("relu1_2", "pool1", "relu3_3", "pool5")] == [1, 2, 4, 32]
  assert [alexnet.layer_stride(n) for n in ("conv1", "pool1", "relu2", "pool2", "relu5",
                                            "pool5")] == [4, 8, 8, 16, 16, 32]


@pytest.mark.parametrize("network, layer, needed", [
    ("vgg16", "relu1_2", ("conv1_1", "conv1_2")), ("alexnet", "pool2", ("conv1", "conv2"))])
def test_only_up_to_the_deepest_layer(tiny_trunks, network, layer, needed):
  """The deeper convolutions' params are not even needed."""
  params = {k: v for k, v in tiny_trunks[network].params.items() if k in needed}
  x = images_lib.preprocess(random_image(40, 40)[None], "torchvision")
  out = references.MODULES[network](widths=TINY_WIDTHS).apply({"params": params}, x, (layer,))
  assert list(out) == [layer]


TORCH_FEATURES = record_fixtures.read("torch_features.json")


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
def test_features_equal_torchvisions(network, tiny_trunks):
  """Every layer of our VGG-16 and AlexNet against torchvision's `features` (written out
  with torch.nn, recorded) on the same tiny random weights: padding, strides, pooling
  windows and the layout of the kernels. Per layer: the shape, each channel's mean and
  RMS per image, and every channel at the corners and one inner position."""
  recorded = TORCH_FEATURES[network]
  weights = tiny_trunks[network]
  assert record_fixtures.fingerprint(weights.params) == recorded["weights_sha256"], (
      "the tiny weights are not the recorded ones: rerun benchmarks/record_fixtures.py")
  images = record_fixtures.pixels(TORCH_FEATURES["images"])
  got = references.features(weights, images, references.NETS[network].LAYER_NAMES)
  assert list(recorded["layers"]) == list(references.NETS[network].LAYER_NAMES)
  for name, want in recorded["layers"].items():
    record_fixtures.assert_summary_close(got[name], want, rtol=1e-4, atol=1e-4, name=name)
