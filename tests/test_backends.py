"""The kernels plug-ins and the precision setting: "xla" and "cpu" compute the same
networks; reduced precision is really applied, and bounded (the layout's own tests:
test_layout.py)."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle import features as features_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import weights as weights_lib
from jaxstyle.gatys import objective
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as net_lib
from jaxstyle.nets.vgg import WIDTHS
from tests.conftest import random_image

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def test_auto_picks_cpu_kernels_on_cpu_only(monkeypatch):
  assert kernels_lib.resolve("auto") == "cpu"  # These tests run on the CPU backend.
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert kernels_lib.resolve("auto") == "xla"
  monkeypatch.setattr(jax, "default_backend", lambda: "tpu")
  assert kernels_lib.resolve("auto") == "xla"
  assert kernels_lib.resolve("cpu") == "cpu"
  with pytest.raises(ValueError, match="kernels must be one of"):
    kernels_lib.resolve("cuda")


@pytest.fixture(scope="module")
def full_width_weights():
  """A VGG-19 of the real widths (64 ... 512 channels: the Winograd layers), random."""
  return weights_lib.random_weights(seed=3, widths=WIDTHS)


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.slow
def test_vgg_xla_and_cpu_kernels_agree_on_features_and_gradients(full_width_weights, pooling):
  """Every layer kind, up to conv5_1 (512 channels; Winograd F(4x4) on the CPU path),
  on a 40x36 image (odd sizes at the deep layers): features, the input gradient of a
  loss over several layers, and a kernel gradient."""
  w = full_width_weights
  layers = ("relu1_2", "pool2", "conv3_1", "relu4_1", "conv4_4", "conv5_1")
  image = jnp.asarray(random_image(36, 40, seed=1))[None]
  out = {}
  for kernels in ("xla", "cpu"):
    fn = features_lib.feature_fn(w.widths, w.preprocessing, pooling, kernels=kernels)
    variables = features_lib.network_variables(w, kernels)
    assert ("derived" in variables) == (kernels == "cpu")

    def loss(x, v, fn=fn):
      feats = fn(v, x, layers)
      return sum(jnp.sum(jnp.sin(f / (1 + jnp.abs(f).mean()))) for f in feats.values())

    feats = jax.jit(fn, static_argnums=2)(variables, image, layers)
    grad_x, grad_v = jax.jit(jax.grad(loss, argnums=(0, 1)))(image, variables)
    out[kernels] = feats, grad_x, grad_v["params"]["conv4_2"]["kernel"]
  for layer in layers:
    assert _rel(out["cpu"][0][layer], out["xla"][0][layer]) < 1e-4, layer
  assert _rel(out["cpu"][1], out["xla"][1]) < 1e-3
  assert _rel(out["cpu"][2], out["xla"][2]) < 1e-3
  assert np.abs(np.asarray(out["xla"][1])).max() > 0


@pytest.mark.parametrize("norm,upsample", [("instance", "nearest"), ("batch", "transpose")])
@pytest.mark.slow
def test_fast_network_xla_and_cpu_kernels_agree_on_outputs_and_parameter_gradients(norm,
                                                                                  upsample):
  """The real widths (32, 64, 128) on an odd-sized batch: every CPU form (blocked 9x9
  layers, stride-2 on blocks, border-recomputed 3x3, low-resolution upsample+conv,
  per-image kernel gradients) against plain XLA. One residual block of the five: each
  is the same layers, so one shows every form at a fifth of the compile time."""
  config = net_lib.ImageTransformConfig(norm=norm, upsample=upsample, num_residual=1)
  variables = net_lib.init_variables(config, seed=1)
  x = jnp.asarray(np.stack([random_image(19, 22, seed=s) for s in range(2)]))
  results = {}
  for kernels in ("xla", "cpu"):
    def loss(params, kernels=kernels):
      out, _, _ = models.apply_train(config, dict(variables, params=params), x,
                                     kernels=kernels)
      return jnp.sum(jnp.square(out - 0.3)), out

    (value, out), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
    results[kernels] = out, grads
  assert results["xla"][0].shape == x.shape
  assert _rel(results["cpu"][0], results["xla"][0]) < 1e-4
  flat_cpu = jax.tree_util.tree_leaves_with_path(results["cpu"][1])
  flat_xla = dict(jax.tree_util.tree_leaves_with_path(results["xla"][1]))
  # Biases before an instance norm have zero gradient, up to rounding: errors are
  # measured against the larger of a leaf's own scale and 1% of the largest gradient.
  scale = max(float(np.abs(np.asarray(g)).max()) for g in flat_xla.values())
  for path, g in flat_cpu:
    want = np.asarray(flat_xla[path])
    err = np.abs(np.asarray(g) - want).max()
    name = jax.tree_util.keystr(path)
    assert err <= 2e-3 * max(np.abs(want).max(), 1e-2 * scale), name
    if name.endswith("['kernel']"):  # Every convolution takes part.
      assert np.abs(want).max() > 1e-3 * scale, name


def _fixed_problem(weights, precision, kernels="auto"):
  content, style = random_image(48, 40, seed=2), random_image(40, 40, seed=3)
  config = objective.ObjectiveConfig()
  targets = objective.compute_targets(content, [style], config, weights, kernels=kernels,
                                      precision=precision)
  loss_fn = objective.make_loss_fn(config, weights, kernels=kernels, precision=precision)
  x = jnp.asarray(random_image(48, 40, seed=4))
  variables = features_lib.network_variables(weights, kernels)
  return targets, jax.jit(loss_fn)(x, targets, variables)


@pytest.mark.slow
def test_bfloat16_is_applied_to_targets_and_loss_and_stays_close_to_float32(tiny_weights):
  """bfloat16 operands are cast explicitly (XLA:CPU ignores matmul-precision hints), so
  the numbers must move; the loss stays within a few percent of float32's."""
  t32, (l32, c32) = _fixed_problem(tiny_weights, "float32")
  t16, (l16, c16) = _fixed_problem(tiny_weights, "bfloat16")
  assert _rel(t16["content"]["conv4_2"], t32["content"]["conv4_2"]) > 1e-4  # Targets too.
  assert 0 < abs(float(l16) / float(l32) - 1) < 0.05
  for part in ("content", "style"):
    assert abs(float(c16[part]) / float(c32[part]) - 1) < 0.05, part


@pytest.mark.slow
def test_cpu_kernels_below_float32_are_the_plain_convolutions(full_width_weights):
  """Winograd is never used below float32: at bfloat16 the CPU and XLA kernels give the
  same features (here Winograd F(4x4) would differ by far more)."""
  w, image = full_width_weights, jnp.asarray(random_image(32, 32, seed=5))[None]
  feats = {k: features_lib.extract_features(image, ["conv5_1"], weights=w, kernels=k,
                                            precision="bfloat16")["conv5_1"]
           for k in ("xla", "cpu")}
  assert _rel(feats["cpu"], feats["xla"]) < 1e-6


def test_tensorfloat32_runs_everywhere(tiny_weights):
  """On CPU TF32 is float32 arithmetic: the same loss to rounding."""
  _, (l32, _) = _fixed_problem(tiny_weights, "float32")
  _, (ltf, _) = _fixed_problem(tiny_weights, "tensorfloat32")
  assert abs(float(ltf) / float(l32) - 1) < 1e-4
  with pytest.raises(ValueError, match="precision must be one of"):
    _fixed_problem(tiny_weights, "float16")


def test_memory_estimate_counts_the_derived_kernels_of_the_cpu_kernels(full_width_weights):
  """The real VGG-19's derived kernels (flipped kernels, Winograd transforms of the
  >= 256-channel layers) are counted only when the CPU kernels run: ~670 MiB. The
  module's network: its derived kernels are made once (network_variables keeps them)."""
  from jaxstyle.gatys import memory  # pylint: disable=import-outside-toplevel
  kwargs = dict(num_seeds=1, layers=["conv5_1"], method="lbfgs", history_size=20)
  extra = (memory.estimate_memory_bytes(256, 256, kernels="cpu", **kwargs)
           - memory.estimate_memory_bytes(256, 256, kernels="xla", **kwargs))
  variables = features_lib.network_variables(full_width_weights, "cpu")
  derived = sum(a.nbytes for a in jax.tree.leaves(variables["derived"]))
  assert extra == derived and 600 * 2**20 < derived < 700 * 2**20


@pytest.mark.slow
def test_stylize_reports_the_kernels_and_precision_it_ran(tiny_weights):
  result = jaxstyle.stylize(random_image(24, 24), random_image(24, 24, 1), weights=tiny_weights,
                            num_steps=2, log_every=0, kernels="xla", precision="bfloat16")
  assert result.run["kernels"] == "xla" and result.config.backend.precision == "bfloat16"
  auto = jaxstyle.stylize(random_image(24, 24), random_image(24, 24, 1), weights=tiny_weights,
                          num_steps=2, log_every=0)
  assert auto.run["kernels"] == "cpu" and auto.run["steps_per_call"] == 1
