"""The benchmark scripts run (timings themselves are never asserted), and the PyTorch
reference of benchmarks/gatys.py computes our objective.

PyTorch is not a test dependency: its side is what it computed, recorded once by
benchmarks/record_fixtures.py in tests/fixtures/ (torch_objective.json: the objective of
benchmarks/torch_reference.py; torch_benchmark.json: `benchmarks.worker --impl=torch`
runs at the smoke run's settings, which the driver reads as if it had run them).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from benchmarks import record_fixtures
from jaxstyle.gatys.objective import DEFAULT_TEMPORAL_WEIGHT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_OBJECTIVE = record_fixtures.read("torch_objective.json")
TORCH_BENCHMARK = record_fixtures.read("torch_benchmark.json")

# `python -m benchmarks.gatys ARGS`, with each `benchmarks.worker --impl=torch` process it
# starts answered by the recorded JSON line of that (method, size, seeds, steps).
_DRIVER_WITH_RECORDED_TORCH = """
import json, subprocess, sys
from absl import app
from benchmarks import gatys, record_fixtures
runs = record_fixtures.read("torch_benchmark.json")["runs"]
real_run = subprocess.run
def run(command, *args, **kwargs):
  if "--impl=torch" not in command:
    return real_run(command, *args, **kwargs)
  key = record_fixtures.worker_key(command)
  if key not in runs:
    raise SystemExit(f"no recorded torch run for {key!r}: rerun benchmarks/record_fixtures.py")
  return subprocess.CompletedProcess(command, 0, json.dumps(runs[key]) + "\\n", "")
subprocess.run = run
sys.argv = ["benchmarks.gatys", *sys.argv[1:]]
app.run(gatys.main)
"""


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  """The smoke run's two 24x32 pictures, as recorded."""
  d = tmp_path_factory.mktemp("bench")
  for name, entry in TORCH_BENCHMARK["pictures"].items():
    Image.fromarray(record_fixtures.to_uint8(record_fixtures.pixels(entry))).save(d / f"{name}.png")
  return d


@pytest.mark.slow
def test_benchmark_driver_smoke(tmp_path, pictures, tiny_weights, tiny_weights_file):
  """The driver with both implementations: jax's workers run, torch's are recorded. The
  two start from the same white noise on the same objective: the same first loss."""
  assert record_fixtures.fingerprint(tiny_weights.params) == TORCH_BENCHMARK["weights_sha256"]
  np.testing.assert_allclose(  # benchmarks/worker.py's noise: the recorded generator's.
      np.random.default_rng(0).standard_normal((2, 24, 32, 3)).reshape(-1)[:8],
      TORCH_BENCHMARK["worker_noise_head"], rtol=1e-6)
  done = subprocess.run(
      # jaxopt_lbfgs is left out: its worker runs lbfgs's code with another method name.
      [sys.executable, "-c", _DRIVER_WITH_RECORDED_TORCH, "--impls=jax,torch",
       "--jax_methods=lbfgs,lbfgs_zoom",
       "--sizes=32", "--steps_per_size=4", "--target_size=32", "--target_steps=5",
       "--seed_counts=1,2", "--seed_size=32", "--seed_steps=3",
       f"--history={TORCH_BENCHMARK['history']}",
       f"--torch_loss_scale={TORCH_BENCHMARK['loss_scale']}",
       f"--content={pictures / 'c.png'}", f"--style={pictures / 's.png'}",
       f"--weights={tiny_weights_file}", f"--results_dir={tmp_path}", "--name=smoke"],
      capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
      # Every worker reads and writes the session's compilation cache (the programs are
      # the same at every step count): a third less time than each compiling anew.
      env=dict(os.environ, PYTHONPATH=ROOT,
               JAX_COMPILATION_CACHE_DIR=os.environ.get("JAXSTYLE_CACHE", ""),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0"))
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads((tmp_path / "smoke.json").read_text())
  assert {r["impl"] for r in results["per_iteration"]} == {"jax", "torch"}
  for r in results["per_iteration"]:
    assert r["ms_per_iter"] > 0 and r["peak_rss_mb"] > 0, r
  jax_lbfgs = [r for r in results["per_iteration"] if r["method"] == "lbfgs" and
               r["impl"] == "jax"][0]
  assert jax_lbfgs["evals_per_iter"] == 1.0
  target = results["target"]
  assert results["reference"] == "torch/lbfgs"
  assert {"jax/lbfgs", "jax/lbfgs (cache)", "torch/lbfgs"} <= set(target)
  np.testing.assert_allclose(target["jax/lbfgs"]["losses"][0],
                             target["torch/lbfgs"]["losses"][0], rtol=1e-4)
  assert target["jax/lbfgs"]["target_loss"] == pytest.approx(
      np.mean(target["torch/lbfgs"]["losses"][-1]))
  assert [(r["impl"], r["seeds"]) for r in results["seeds"]] == [
      ("jax", 1), ("jax", 2), ("torch", 1), ("torch", 2)]
  table = (tmp_path / "smoke.md").read_text()
  assert "ms / iteration" in table and "Time to the reference" in table
  assert "Reference: torch/lbfgs." in table
  jax_row = next(l for l in table.splitlines() if l.startswith("| 32 | jax lbfgs |"))
  assert jax_row.split("|")[5].strip().endswith("x"), jax_row  # "vs PyTorch": a ratio.


@pytest.mark.parametrize("case", list(TORCH_OBJECTIVE["cases"]))
@pytest.mark.slow
def test_torch_reference_matches_jax_objective(tiny_weights, case):
  """benchmarks/torch_reference.py optimizes exactly our objective (recorded): the same
  content and style terms, total and gradient at the same image, with max pooling and a
  style image of the output's size, and with average pooling and a smaller style image
  (Gram matrices per position)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jaxstyle  # pylint: disable=import-outside-toplevel
  from jaxstyle.features import network_variables  # pylint: disable=import-outside-toplevel
  assert record_fixtures.fingerprint(tiny_weights.params) == TORCH_OBJECTIVE["weights_sha256"], (
      "the tiny weights are not the recorded ones: rerun benchmarks/record_fixtures.py")
  recorded = TORCH_OBJECTIVE["cases"][case]
  images = {k: record_fixtures.pixels(v) for k, v in TORCH_OBJECTIVE["images"].items()}
  config = jaxstyle.ObjectiveConfig(content_normalization="sum", pooling=recorded["pooling"],
                                    content_weight=TORCH_OBJECTIVE["content_weight"],
                                    style_weight=TORCH_OBJECTIVE["style_weight"])
  targets = jaxstyle.compute_targets(images["content"], [images[recorded["style"]]], config,
                                     tiny_weights)
  loss_fn = jaxstyle.make_loss_fn(config, tiny_weights)
  variables = network_variables(tiny_weights)
  (total, terms), grad = jax.jit(jax.value_and_grad(
      lambda x: loss_fn(x, targets, variables), has_aux=True))(images["x"])
  np.testing.assert_allclose(float(terms["content"]), recorded["content"], rtol=1e-4)
  np.testing.assert_allclose(float(terms["style"]), recorded["style_loss"], rtol=1e-4)
  np.testing.assert_allclose(float(total), recorded["total"], rtol=1e-4)
  grad = np.asarray(grad, np.float64)
  np.testing.assert_allclose(np.linalg.norm(grad), recorded["gradient_norm"], rtol=1e-4)
  probes = [grad[i, j] for i, j in record_fixtures.gradient_probes(*grad.shape[:2])]
  np.testing.assert_allclose(probes, recorded["gradient_probes"], rtol=1e-3,
                             atol=1e-4 * recorded["gradient_norm"] / np.sqrt(grad.size))


def test_arbitrary_bound_counts_the_predictors_pointwise_layers():
  """The bound times the 34 1x1 layers of the predictor at their real shapes: the shapes
  follow the network's own (traced) activations."""
  import flax.linen as nn
  import jax
  from benchmarks import arbitrary_bound
  from jaxstyle.nets import arbitrary as nets
  from jaxstyle.weights import arbitrary as weights_lib
  layers = arbitrary_bound.pointwise_layers(96)
  assert len(layers) == 34
  params = weights_lib.random_weights().predictor
  shapes = []

  def record(next_fun, args, kwargs, context):
    module = context.module
    if (context.method_name == "__call__" and isinstance(module, nets.SameConv)
        and module.kernel == 1):
      _, h, w, c = args[0].shape
      shapes.append((h * w, c, module.features))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda p, x: nets.StylePredictor().apply({"params": p}, x),
                   params,
                   jax.ShapeDtypeStruct((1, 96, 96, 3), np.float32))
  assert shapes == layers


@pytest.mark.slow
def test_memory_benchmark_smoke(tmp_path, tiny_weights_file, shared_images):
  """benchmarks/memory.py runs a worker untiled and tiled and sets each peak beside the
  estimate (of the real network: the tiny one's peaks are far below it)."""
  output = tmp_path / "memory.json"

  def measure(runs):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", f"--runs={runs}", "--steps=1",
         f"--weights={tiny_weights_file}", f"--content={shared_images / 'tubingen.jpg'}",
         f"--style={shared_images / 'starry_night.jpg'}", f"--output={output}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| 256x192 | 32 |" in done.stdout
    return json.loads(output.read_text())["runs"]

  runs = measure("64:0,256:32")
  assert [(r["width"], r["tile_size"]) for r in runs] == [(64, None), (256, 32)]
  for r in runs:
    assert r["peak_rss_mb"] > 0 and r["estimate_mb"] > r["peak_rss_mb"]
  assert runs[1]["parts_mb"]["optimizer"] > runs[0]["parts_mb"]["optimizer"]
  # Measuring one size again replaces its row and keeps the others (in the table too).
  again = measure("64:0")
  assert [(r["width"], r["tile_size"]) for r in again] == [(64, None), (256, 32)]
  assert again[1] == runs[1] and again[0]["load_average"]


@pytest.mark.slow
def test_video_benchmark_smoke(tmp_path, tiny_weights_file, shared_images):
  """benchmarks/video.py on the real carphone clip (2 frames): a row per method with the
  warping error beside the input's, seconds per frame and the per-frame losses."""
  output = tmp_path / "video.json"

  def run(*args):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.video", "--clips=carphone", "--frames=2",
         "--steps=2", f"--weights={tiny_weights_file}",
         f"--style={shared_images / 'starry_night.jpg'}", f"--output={output}",
         f"--videos={shared_images.parent / 'videos'}", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    return done

  done = run("--methods=temporal,fast_blend", "--temporal_weight=5")
  runs = json.loads(output.read_text())["runs"]
  assert [r["method"] for r in runs] == ["temporal", "fast_blend"]
  for r in runs:
    assert (r["width"], r["height"], r["frames"], r["steps"]) == (176, 144, 2, 2)
    assert r["warping_error"] > 0 and r["ratio"] == pytest.approx(
        r["warping_error"] / r["input_warping_error"])
    assert r["warping_error"] == pytest.approx(np.mean(r["per_pair_warping_error"]))
    assert len(r["per_frame"]["style"]) == 2 and r["s_per_frame"] > 0
    assert r["temporal_weight"] == 5
  assert "| carphone 176x144 | temporal |" in done.stdout
  # A rerun of one method replaces its row and keeps the others, in METHODS' order; the
  # strips show every frame side by side.
  run("--methods=fast", f"--strips={tmp_path / 'strips'}")
  again = json.loads(output.read_text())["runs"]
  assert [r["method"] for r in again] == ["temporal", "fast", "fast_blend"]
  assert again[0] == runs[0] and again[2] == runs[1]
  assert again[1]["temporal_weight"] == DEFAULT_TEMPORAL_WEIGHT
  assert Image.open(tmp_path / "strips" / "carphone_fast.png").size == (2 * 176, 144)
