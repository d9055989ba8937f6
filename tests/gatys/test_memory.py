"""jaxstyle.gatys.memory: the estimate of a run's memory, and the clear error when the
device has too little."""

import jax
import numpy as np
import pytest

import jaxstyle
from jaxstyle import features as features_lib
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.gatys import memory
from jaxstyle.gatys import objective
from jaxstyle.nets.vgg import WIDTHS


def test_too_large_for_memory_is_a_clear_error(tiny_weights, monkeypatch):
  monkeypatch.setattr(memory, "available_memory_bytes", lambda: 2**30)
  big = np.zeros((4000, 3000, 3), np.float32)
  message = r"3000x4000 px .* needs about .* GiB .* smaller --image_size"
  with pytest.raises(UserError, match=message):
    jaxstyle.stylize(big, big[:64, :64], weights=jaxstyle.weights.random_weights())


def test_memory_estimate_grows_with_size_and_seeds():
  """Per-seed memory grows with the pixels and the seeds; the network's (weights, and
  derived kernels with the CPU kernels) is counted once."""
  for kernels in ("xla", "cpu"):
    kw = dict(layers=["conv5_1"], method="lbfgs", history_size=20, kernels=kernels)
    fixed = memory.estimate_memory_bytes(0, 0, num_seeds=1, **kw)
    small = memory.estimate_memory_bytes(256, 256, num_seeds=1, **kw) - fixed
    assert fixed > 4 * 20_000_000 and small > 0
    assert memory.estimate_memory_bytes(512, 512, num_seeds=1, **kw) - fixed > 3.5 * small
    assert memory.estimate_memory_bytes(256, 256, num_seeds=4, **kw) - fixed > 3.9 * small


@pytest.fixture(scope="module")
def full_width_weights():
  """A VGG-19 of the real widths (64 ... 512 channels: the Winograd layers), random."""
  return weights_lib.random_weights(seed=3, widths=WIDTHS)


def test_memory_estimate_counts_the_derived_kernels_of_the_cpu_kernels(full_width_weights):
  """The real VGG-19's derived kernels (flipped kernels, Winograd transforms of the
  >= 256-channel layers) are counted only when the CPU kernels run, and only for the
  layers a run reads: up to conv5_1, 238 MiB (conv5_2..conv5_4 would add 110 MiB;
  a transposed copy of each Winograd kernel, 189 MiB more). The module's network: its
  derived kernels are made once (network_variables keeps them)."""
  from jaxstyle.gatys import memory  # pylint: disable=import-outside-toplevel
  kwargs = dict(num_seeds=1, layers=["conv4_2", "conv5_1"], method="lbfgs", history_size=20)
  extra = (memory.estimate_memory_bytes(256, 256, kernels="cpu", **kwargs)
           - memory.estimate_memory_bytes(256, 256, kernels="xla", **kwargs))
  variables = features_lib.network_variables(full_width_weights, "cpu", kwargs["layers"])
  derived = sum(a.nbytes for a in jax.tree.leaves(variables["derived"]))
  assert extra == derived and 230 * 2**20 < derived < 245 * 2**20
  assert list(variables["derived"]) == list(variables["params"])[:13]  # conv1_1 .. conv5_1


# --- plan_memory: tiles (gatys.tiling), then a shorter history, then the refusal ---------


def _plan(free_bytes, monkeypatch, **kwargs):
  monkeypatch.setattr(memory, "available_memory_bytes", lambda: free_bytes)
  lines = []
  settings = dict(num_seeds=1, layers=objective.DEFAULT_STYLE_LAYERS, method="lbfgs",
                  history_size=20, kernels="xla")
  settings.update(kwargs)
  return memory.plan_memory(3072, 4096, log=lines.append, **settings), lines


def test_auto_tiles_only_what_does_not_fit_with_the_largest_tiles_that_do(monkeypatch):
  estimate = lambda tile, history=20: memory.estimate_memory_bytes(
      3072, 4096, num_seeds=1, layers=objective.DEFAULT_STYLE_LAYERS, method="lbfgs",
      history_size=history, kernels="xla", tile_size=tile)
  assert estimate(None) > estimate(1024) > estimate(512) > estimate(256)
  plan, lines = _plan(estimate(None), monkeypatch)
  assert (plan.tile_size, plan.history_size, lines) == (None, 20, [])
  plan, lines = _plan(estimate(512) + 1, monkeypatch)
  assert (plan.tile_size, plan.history_size) == (512, 20)
  assert lines and "tiles of 512 px" in lines[0]
  plan, lines = _plan(estimate(256, 10), monkeypatch)  # Tiles, then a shorter history.
  assert (plan.tile_size, plan.history_size) == (256, 10)
  assert "history of 10 pairs instead of 20" in lines[-1]
  with pytest.raises(UserError, match=r"4096x3072 px .* in tiles of 256 px but only"):
    _plan(estimate(256, memory.MIN_HISTORY) - 1, monkeypatch)
  plan, _ = _plan(estimate(None) - 1, monkeypatch, tile_size=0)  # Never tiles: history.
  assert (plan.tile_size, plan.history_size) == (None, 19)
  plan, _ = _plan(estimate(None) - 1, monkeypatch, style_loss="histogram")  # Untileable.
  assert plan.tile_size is None


def test_the_estimate_is_its_parts_each_the_size_of_what_it_counts():
  """Per seed: the activations (of one tile's window when tiled) and the optimizer's
  image-sized buffers; once: the runtime, the network and the content target."""
  kw = dict(layers=objective.DEFAULT_STYLE_LAYERS + ("conv4_2",), method="lbfgs",
            kernels="xla")
  parts = lambda h, w, **more: memory.memory_parts(
      h, w, **dict(dict(kw, num_seeds=1, history_size=20), **more))
  tiled, untiled = parts(3072, 4096, tile_size=512), parts(3072, 4096)
  assert sum(tiled.values()) == memory.estimate_memory_bytes(
      3072, 4096, num_seeds=1, history_size=20, tile_size=512, **kw)
  image = 3072 * 4096 * 3
  # One 672 px window's (512 + 2 x 80 px halo), its largest layer twice more, and the
  # 6 x 8 tiles' inputs.
  window = parts(672, 672)["activations"]
  largest = 672 * 672 * 64
  assert tiled["activations"] == window + 4 * (2 * largest + 48 * 672 * 672 * 3)
  assert untiled["activations"] > 10 * tiled["activations"]
  assert untiled["optimizer"] == 4 * (2 * 20 + 6) * image  # The history's pairs and 6 more.
  assert tiled["optimizer"] == untiled["optimizer"] + 4 * 4 * image
  assert untiled["targets"] == tiled["targets"] == 4 * (3072 // 8) * (4096 // 8) * 512
  assert parts(3072, 4096, history_size=10)["optimizer"] == untiled["optimizer"] - 4 * 20 * image
  seeds = parts(3072, 4096, num_seeds=3)
  for part in ("activations", "optimizer"):
    assert seeds[part] == 3 * untiled[part]
  for part in ("runtime", "network", "targets"):
    assert seeds[part] == untiled[part]
