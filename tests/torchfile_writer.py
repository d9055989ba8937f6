"""Writes PyTorch-format checkpoints without PyTorch, for tests of the reader.

The pickles name the same globals `torch.save` writes (torch._utils._rebuild_tensor_v2,
torch.FloatStorage, ...), produced here by stand-ins registered under those names
only while a file is being written.
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

_STORAGE_NAMES = {np.dtype(np.uint8): "ByteStorage", np.dtype(np.float32): "FloatStorage",
                  np.dtype(np.int64): "LongStorage"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Tensor:

  def __init__(self, array: np.ndarray, key: str):
    self.array = np.ascontiguousarray(array)
    self.key = key


@contextlib.contextmanager
def _fake_torch():
  torch = types.ModuleType("torch")
  utils = types.ModuleType("torch._utils")

  def _rebuild_tensor_v2(*args):
    raise AssertionError("never called while writing")

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  for name in _STORAGE_NAMES.values():
    cls = type(name, (), {"__module__": "torch", "__qualname__": name})
    setattr(torch, name, cls)
  torch._utils = utils
  saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
  sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
  try:
    yield torch, utils
  finally:
    for k, v in saved.items():
      if v is None:
        sys.modules.pop(k, None)
      else:
        sys.modules[k] = v


def _dump(state: dict, pickler_file) -> list[_Tensor]:
  tensors = []
  with _fake_torch() as (torch, utils):

    class Reduced:

      def __init__(self, tensor):
        self.tensor = tensor

      def __reduce__(self):
        a = self.tensor.array
        stride = tuple(s // a.itemsize for s in a.strides)
        return (utils._rebuild_tensor_v2,
                (self.tensor, 0, a.shape, stride, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):

      def persistent_id(self, obj):
        if isinstance(obj, _Tensor):
          storage = getattr(torch, _STORAGE_NAMES[obj.array.dtype])
          return ("storage", storage, obj.key, "cpu", obj.array.size)
        return None

    wrapped = collections.OrderedDict()
    for i, (k, v) in enumerate(state.items()):
      tensor = _Tensor(np.asarray(v), str(i))
      tensors.append(tensor)
      wrapped[k] = Reduced(tensor)
    Pickler(pickler_file, protocol=2).dump(wrapped)
  return tensors


def write_legacy(path, state: dict) -> None:
  """A `torch.save(..., _use_new_zipfile_serialization=False)` file of NumPy arrays."""
  with open(path, "wb") as f:
    pickle.dump(_LEGACY_MAGIC, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    tensors = _dump(state, f)
    pickle.dump([t.key for t in tensors], f, protocol=2)
    for t in tensors:
      f.write(struct.pack("<q", t.array.size))
      f.write(t.array.tobytes())


def write_zip(path, state: dict) -> None:
  """A `torch.save` (zip format) file of NumPy arrays."""
  buf = io.BytesIO()
  tensors = _dump(state, buf)
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("archive/data.pkl", buf.getvalue())
    for t in tensors:
      zf.writestr(f"archive/data/{t.key}", t.array.tobytes())


def write_malicious(path) -> None:
  """A legacy-format file whose pickle would call os.system."""
  import os  # pylint: disable=import-outside-toplevel

  class Evil:

    def __reduce__(self):
      return (os.system, ("echo pwned",))

  with open(path, "wb") as f:
    pickle.dump(_LEGACY_MAGIC, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"little_endian": True}, f, protocol=2)
    pickle.dump({"x": Evil()}, f, protocol=2)
