import numpy as np
import pytest

from jaxstyle import _torchfile
from tests import torchfile_writer


@pytest.fixture
def state():
  rng = np.random.default_rng(0)
  return {
      "w_q": rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8),
      "table": rng.normal(size=256).astype(np.float32),
      "b": rng.normal(size=4).astype(np.float32),
      "transposed": rng.normal(size=(3, 5)).astype(np.float32).T,
  }


@pytest.mark.parametrize("writer", [torchfile_writer.write_legacy, torchfile_writer.write_zip])
def test_round_trip(tmp_path, state, writer):
  path = tmp_path / "f.pth"
  writer(path, state)
  loaded = _torchfile.load(str(path))
  assert list(loaded) == list(state)
  for k, v in state.items():
    assert loaded[k].dtype == v.dtype
    np.testing.assert_array_equal(loaded[k], v)


def test_refuses_other_globals(tmp_path):
  path = tmp_path / "evil.pth"
  torchfile_writer.write_malicious(path)
  with pytest.raises(_torchfile.TorchFileError, match="refusing to load global .*system"):
    _torchfile.load(str(path))


def test_truncated_file(tmp_path, state):
  path = tmp_path / "f.pth"
  torchfile_writer.write_legacy(path, state)
  data = path.read_bytes()
  path.write_bytes(data[:-100])
  with pytest.raises(_torchfile.TorchFileError, match="truncated"):
    _torchfile.load(str(path))


def test_not_a_checkpoint(tmp_path):
  path = tmp_path / "f.pth"
  path.write_bytes(b"hello, this is not a pickle")
  with pytest.raises(_torchfile.TorchFileError):
    _torchfile.load(str(path))
