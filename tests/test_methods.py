"""The style losses and feature networks behind one objective, through the API and the
command line (tiny random networks, small images)."""

import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxstyle
from jaxstyle import features, losses
from jaxstyle.gatys import objective, transfer
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, make_loss_fn
from jaxstyle.weights import lpips as lpips_weights
from tests.conftest import random_image
from tests.commands import fails_cleanly, run_main

TINY = {"vgg16": (4, 6, 8, 8, 8), "alexnet": (6, 8, 8, 8, 8)}


@pytest.fixture(scope="module")
def tiny_networks():
  return {name: jaxstyle.weights.random_weights(network=name, widths=widths)
          for name, widths in TINY.items()}


@pytest.mark.parametrize("style_loss", losses.STYLE_LOSSES)
@pytest.mark.slow
def test_every_style_loss_lowers_its_loss_with_seed_sweeps(tiny_weights, style_loss):
  """Two seeds from white noise: finite, the style term falls well below its start, the
  seeds stay distinct, and the loss recorded is the chosen one."""
  content, style = random_image(32, 32, 0), random_image(24, 32, 1)  # Two sizes.
  result = transfer.stylize(content, style, weights=tiny_weights, style_loss=style_loss,
                            num_steps=25, num_seeds=2, log_every=0, style_weight=1e3,
                            optimizer="adam", learning_rate=0.05)
  h = result.history["style"]
  assert result.stopped is None and np.all(np.isfinite(result.history["total"]))
  assert np.all(h[-1] < 0.5 * h[0]), h[[0, -1]]
  assert not np.allclose(result.images[0], result.images[1])
  assert result.run["style_loss"] == style_loss


@pytest.mark.slow
def test_sliced_wasserstein_draws_new_directions_every_step(tiny_weights):
  content, style, x = (random_image(32, 32, s) for s in range(3))
  config = ObjectiveConfig(style_loss="sliced_wasserstein")
  targets = compute_targets(content, [style], config, tiny_weights)
  fn = make_loss_fn(config, tiny_weights)
  assert fn.uses_step and not make_loss_fn(ObjectiveConfig(), tiny_weights).uses_step
  fn = jax.jit(fn)
  params = features.network_variables(tiny_weights)
  at = lambda step, t=targets: float(fn(jnp.asarray(x), t, params, step)[1]["style"])
  assert at(0) == at(0) and at(0) != at(1) and at(1) != at(2)
  other = compute_targets(content, [style], config, tiny_weights, key=np.uint32([0, 7]))
  assert at(0, other) != at(0)


@pytest.mark.parametrize("style_loss", ["mean_cov", "sliced_wasserstein", "histogram"])
def test_masks_are_for_the_gram_loss(tiny_weights, style_loss):
  mask = np.ones((32, 32), np.float32)
  with pytest.raises(ValueError, match="gram style loss only"):
    transfer.stylize(random_image(32, 32), random_image(32, 32, 1), weights=tiny_weights,
                     style_loss=style_loss, style_masks=[mask], num_steps=1, log_every=0)


@pytest.mark.slow
def test_several_styles_blend_the_losses(tiny_weights):
  """Two style images with weights 0.25/0.75: the style term is the weighted sum of
  each one's (the rule for every loss)."""
  content, a, b, x = (random_image(32, 32, s) for s in range(4))
  params = features.network_variables(tiny_weights)

  def value(styles, blend):  # The blend weights travel in the targets.
    config = ObjectiveConfig(style_loss="mean_cov", style_blend_weights=blend)
    return float(jax.jit(make_loss_fn(config, tiny_weights, num_styles=len(styles)))(
        jnp.asarray(x), compute_targets(content, styles, config, tiny_weights),
        params)[1]["style"])

  np.testing.assert_allclose(value([a, b], (1, 3)),
                             0.25 * value([a], None) + 0.75 * value([b], None), rtol=1e-5)


# Each network's layers as the README and `features` name them: content, style.
OWN_LAYERS = {"vgg16": ("conv4_2", ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")),
              "alexnet": ("conv4", ("conv1", "conv2", "conv3", "conv4", "conv5"))}


def _np_gram_objective(network, weights, image, content, style):
  """(content, style) losses from the formulas, float64: the mean squared difference
  at the content layer; sum_l w_l sum (G/M - A/M_s)^2 / (4 C^2) with w_l = 1/5."""
  content_layer, style_layers = OWN_LAYERS[network]
  f = features.extract_features(np.stack([image, content]), (content_layer,) + style_layers,
                                weights=weights)
  fs = features.extract_features(style[None], style_layers, weights=weights)
  as64 = lambda a: np.asarray(a, np.float64)
  content_loss = np.mean(np.square(as64(f[content_layer][0]) - as64(f[content_layer][1])))
  style_loss = 0.0
  for layer in style_layers:
    x = as64(f[layer][0]).reshape(-1, f[layer].shape[-1])
    a = as64(fs[layer][0]).reshape(-1, x.shape[1])
    style_loss += np.sum(np.square(x.T @ x / len(x) - a.T @ a / len(a))) / (
        4 * x.shape[1]**2 * len(style_layers))
  return content_loss, style_loss


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
@pytest.mark.slow
def test_other_networks_stylize_with_their_own_layers(tiny_networks, network):
  """From a start image that is neither photo nor style: the first recorded losses are
  the formulas' on the network's own layers (and its calibrated beta), and 8 L-BFGS
  steps lower the total by more than half."""
  content, style, start = (random_image(64, 64, s) for s in range(3))
  weights = tiny_networks[network]
  result = transfer.stylize(content, style, weights=weights, init=start, num_steps=8,
                            log_every=0)
  assert result.run["network"] == network
  assert (result.run["content_layers"][0], tuple(result.run["style_layers"])) == (
      OWN_LAYERS[network])
  want_content, want_style = _np_gram_objective(network, weights, start, content, style)
  h = result.history
  np.testing.assert_allclose(h["content"][0, 0], want_content, rtol=1e-4)
  np.testing.assert_allclose(h["style"][0, 0], want_style, rtol=1e-4)
  beta = objective.DEFAULT_STYLE_WEIGHTS[("gram", network)]
  np.testing.assert_allclose(h["total"][0, 0], want_content + beta * want_style, rtol=1e-4)
  assert h["total"][-1, 0] < 0.5 * h["total"][0, 0], h["total"][:, 0]
  with pytest.raises(ValueError, match="valid layers"):
    transfer.stylize(content, style, weights=weights, style_layers=["conv5_4"], num_steps=1,
                     log_every=0)
  with pytest.raises(ValueError, match="network=vgg19"):
    transfer.stylize(content, style, weights=weights, network="vgg19", num_steps=1,
                     log_every=0)


def test_objective_refuses_weights_of_another_network(tiny_weights, tiny_networks):
  with pytest.raises(ValueError, match="vgg16's but the objective is for vgg19"):
    make_loss_fn(ObjectiveConfig(), tiny_networks["vgg16"])
  with pytest.raises(ValueError, match="style masks work with the VGGs, not alexnet"):
    ObjectiveConfig(network="alexnet", content_layers=("conv4",),
                    style_layers=("conv1",), guided=True)


def _save(image, path):
  Image.fromarray((image * 255).astype(np.uint8)).save(path)
  return path


@pytest.mark.slow
def test_cli_style_loss_and_network(tmp_path, tiny_networks):
  content = _save(random_image(64, 64, 0), tmp_path / "c.png")
  style = _save(random_image(64, 64, 1), tmp_path / "s.png")
  path = tmp_path / "alexnet.npz"
  jaxstyle.weights.save(tiny_networks["alexnet"], path)
  out, metrics = tmp_path / "o.png", tmp_path / "m.json"
  common = [f"--content={content}", f"--style={style}", f"--output={out}", f"--weights={path}"]
  done = run_main("jaxstyle.stylize", *common, "--image_size=64", "--num_steps=3",
                  "--network=alexnet", "--style_loss=mean_cov", f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  run = json.loads(metrics.read_text())["run"]
  assert run["network"] == "alexnet" and run["style_loss"] == "mean_cov"
  assert run["style_layers"] == list(OWN_LAYERS["alexnet"][1])
  fails_cleanly(run_main("jaxstyle.stylize", *common, "--network=alexnet",
                         "--style_layers=conv1_1"), "--style_layers: unknown AlexNet layer")
  fails_cleanly(run_main("jaxstyle.stylize", *common, "--network=vgg16"),
                "holds alexnet, not vgg16")


@pytest.mark.slow
def test_cli_rank_by_orders_the_sheet_and_records_each_seed(tmp_path, tiny_weights,
                                                             monkeypatch, caplog):
  """--rank_by=lpips on a 3-seed sweep, with tiny judges beside a tiny VGG-19
  ($JAXSTYLE_WEIGHTS): the metrics JSON holds every judge per seed and the order, which
  is the order of content/lpips_alex."""
  from jaxstyle.metrics import lpips as lpips_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  d = tmp_path / "weights"
  d.mkdir()
  weights_lib.save(tiny_weights, d / "vgg19.npz")
  widths = {"vgg": (4, 6, 8, 8, 8), "alex": (6, 8, 8, 8, 8)}
  for lp, network in lpips_weights.LPIPS_TRUNKS.items():
    jaxstyle.weights.save(jaxstyle.weights.random_weights(network=network, widths=widths[lp]),
                       lpips_weights.network_path(network, d))
  lpips_weights.save_heads({lp: lpips_weights.random_heads(lp, widths=w)
                            for lp, w in widths.items()}, {"source": "random"},
                           lpips_weights.heads_path(d))
  content = _save(random_image(32, 32, 0), tmp_path / "c.png")
  style = _save(random_image(32, 32, 1), tmp_path / "s.png")
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(d / "vgg19.npz"))
  caplog.set_level(logging.INFO)
  # The real LPIPS weights are read once per process: forget them before and after.
  lpips_lib._default_params.cache_clear()  # pylint: disable=protected-access
  metrics = tmp_path / "m.json"
  command = [f"--content={content}", f"--style={style}", f"--output={tmp_path / 'o.png'}",
             "--image_size=32", "--num_steps=3", "--num_seeds=3"]
  try:
    done = run_main("jaxstyle.stylize", *command, "--rank_by=lpips", f"--metrics_json={metrics}")
  finally:
    lpips_lib._default_params.cache_clear()  # pylint: disable=protected-access
  assert done.returncode == 0, done.stderr
  ranking = json.loads(metrics.read_text())["ranking"]
  assert ranking["by"] == "lpips" and sorted(ranking["order"]) == [0, 1, 2]
  lpips = {int(s): m["content/lpips_alex"] for s, m in ranking["metrics"].items()}
  assert ranking["order"] == sorted(lpips, key=lpips.get)
  assert all(len(m) == 8 for m in ranking["metrics"].values())
  assert (tmp_path / "o_sheet.png").exists()
  assert "seeds by lpips" in caplog.text
  fails_cleanly(run_main("jaxstyle.stylize", *command[:-1], "--rank_by=style"),
                "give --num_seeds > 1")
