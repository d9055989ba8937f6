"""The benchmark scripts run (timings themselves are never asserted)."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import random_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("bench")
  for i, name in enumerate(("c", "s")):
    Image.fromarray((random_image(24, 32, i) * 255).astype(np.uint8)).save(d / f"{name}.png")
  return d


def _impls():
  return ["jax", "torch"] if importlib.util.find_spec("torch") else ["jax"]


def test_benchmark_driver_smoke(tmp_path, pictures, tiny_weights_file):
  done = subprocess.run(
      [sys.executable, "-m", "benchmarks.gatys", f"--impls={','.join(_impls())}",
       "--sizes=32", "--steps_per_size=4", "--target_size=32", "--target_steps=5",
       "--seed_counts=1,2", "--seed_size=32", "--seed_steps=3", "--history=5",
       f"--content={pictures / 'c.png'}", f"--style={pictures / 's.png'}",
       f"--weights={tiny_weights_file}", f"--results_dir={tmp_path}", "--name=smoke"],
      capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
      timeout=900, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads((tmp_path / "smoke.json").read_text())
  assert {r["impl"] for r in results["per_iteration"]} == set(_impls())
  for r in results["per_iteration"]:
    assert r["ms_per_iter"] > 0 and r["peak_rss_mb"] > 0
  jax_lbfgs = [r for r in results["per_iteration"] if r["method"] == "lbfgs" and
               r["impl"] == "jax"][0]
  assert jax_lbfgs["evals_per_iter"] == 1.0
  assert "jax/lbfgs" in results["target"]
  assert [r["seeds"] for r in results["seeds"] if r["impl"] == "jax"] == [1, 2]
  table = (tmp_path / "smoke.md").read_text()
  assert "ms / iteration" in table and "Time to the reference" in table


@pytest.mark.skipif(not importlib.util.find_spec("torch"), reason="the bench extra is not installed")
def test_torch_reference_matches_jax_objective(tiny_weights):
  """The reference optimizes exactly our objective: same value at the same image."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from benchmarks import torch_reference as ref  # pylint: disable=import-outside-toplevel
  import jaxstyle  # pylint: disable=import-outside-toplevel
  from jaxstyle.features import network_variables  # pylint: disable=import-outside-toplevel
  content, style, x = random_image(32, 32, 0), random_image(32, 32, 1), random_image(32, 32, 2)
  config = jaxstyle.ObjectiveConfig(content_normalization="sum", style_weight=100.0)
  targets = jaxstyle.compute_targets(content, [style], config, tiny_weights)
  ours = float(jaxstyle.make_loss_fn(config, tiny_weights)(
      jnp.asarray(x), targets, network_variables(tiny_weights))[0])
  objective = ref.Objective(ref.TorchVGG19(tiny_weights.params), content, style)
  theirs = float(objective(torch.from_numpy(x[None]).permute(0, 3, 1, 2))[0])
  np.testing.assert_allclose(theirs, ours, rtol=1e-4)


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
