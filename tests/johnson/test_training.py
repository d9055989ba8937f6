"""jaxstyle.johnson.training: the feed-forward network's training on tiny networks: crops,
the loss, the saturation penalty, checkpoints and resuming."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import images as images_lib
from jaxstyle import johnson as fast
from jaxstyle._atomic import OutputError
from jaxstyle.errors import UserError
from jaxstyle.features import network_variables
from jaxstyle.johnson import models
from jaxstyle.johnson import training as fast_train
from jaxstyle.nets import johnson as transformer

from tests.conftest import random_image

TINY_NET = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)


# Jitted: flax's apply run op by op takes seconds.
_apply = jax.jit(models.apply, static_argnums=0, static_argnames="train")


def _tiny_train_config(**overrides):
  settings = dict(net=TINY_NET, content_weight=1.0, style_weight=1e-2, tv_weight=10.0,
                  learning_rate=3e-3, batch_size=2, crop_size=24, seed=3)
  settings.update(overrides)
  return fast_train.TrainConfig(**settings)


def test_crop_sampler_is_a_pure_function_of_the_index(photo_dir):
  files = images_lib.find_images(photo_dir, recursive=True)
  assert len(files) == 9
  a = fast_train.CropSampler(files, crop_size=16, resize=20, seed=5)
  b = fast_train.CropSampler(files, crop_size=16, resize=20, seed=5)
  later = a.batch(7, 2)
  a.batch(0, 2)
  np.testing.assert_array_equal(b.batch(7, 2), later)  # b never saw steps 0..6.
  assert later.shape == (2, 16, 16, 3) and later.dtype == np.float32
  assert not np.array_equal(a.batch(1, 2), later)
  for step in range(6):  # Every photo of the first epochs, the broken one skipped.
    a.batch(step, 2)
  assert {files[i].name for i in a._bad} == {"broken.jpg"}  # pylint: disable=protected-access


@pytest.mark.slow
def test_loss_is_normalized_and_zero_for_identical_statistics(tiny_weights):
  config = _tiny_train_config()
  loss_fn = jax.jit(fast_train.make_loss_fn(config, tiny_weights))
  x = jnp.asarray(random_image(24, 24)[None])
  targets = fast_train.style_targets(np.asarray(x[0]), config, tiny_weights)
  total, parts = loss_fn(x, x, targets, network_variables(tiny_weights))
  other = fast_train.style_targets(random_image(24, 24, seed=1), config, tiny_weights)
  _, other_parts = loss_fn(x, x, other, network_variables(tiny_weights))
  assert float(parts["content"]) == 0
  assert float(parts["style"]) < 1e-6 * float(other_parts["style"])
  # Johnson et al.'s normalizations: content 1/(CHW) ||F - P||^2; style, per layer,
  # 1/C^2 ||G - A||^2 with G = F F^T / (CHW), summed over the layers.
  y = x + 0.1
  _, parts = loss_fn(y, x, other, network_variables(tiny_weights))
  from jaxstyle.features import extract_features  # pylint: disable=import-outside-toplevel
  fy = extract_features(y, config.style_layers + ("relu2_2",), weights=tiny_weights)
  fx = extract_features(x, ["relu2_2"], weights=tiny_weights)["relu2_2"]
  np.testing.assert_allclose(parts["content"], np.mean(np.square(fy["relu2_2"] - fx)),
                             rtol=1e-4)
  style = 0.0
  for layer in config.style_layers:
    f = np.asarray(fy[layer][0], np.float64)
    c = f.shape[-1]
    f = f.reshape(-1, c)
    gram = f.T @ f / (c * f.shape[0])
    style += np.sum(np.square(gram - np.asarray(other[layer]) / c)) / c**2
  np.testing.assert_allclose(parts["style"], style, rtol=1e-3)


def _params(result):
  return jax.tree_util.tree_leaves(jax.device_get(result.state))


@pytest.mark.slow
def test_training_lowers_the_loss(tiny_weights, photo_dir, tmp_path):
  config = _tiny_train_config()
  style = random_image(32, 32, seed=9)
  sampler = fast_train.CropSampler(images_lib.find_images(photo_dir, recursive=True), crop_size=24,
                                   resize=30, seed=11)
  batch = jnp.asarray(np.concatenate([sampler.batch(s, 2) for s in range(3)]))
  targets = fast_train.style_targets(style, config, tiny_weights)
  loss_fn = jax.jit(fast_train.make_loss_fn(config, tiny_weights))

  def held_out_loss(variables):
    out, _ = _apply(config.net, variables, batch)
    return float(loss_fn(out, batch, targets, network_variables(tiny_weights))[0])

  before = held_out_loss(fast_train.init_state(config)["variables"])
  result = fast_train.train(config, style, photo_dir, tmp_path / "run", weights=tiny_weights,
                            num_steps=40, checkpoint_every=20, sample_every=20,
                            sample_images=[random_image(24, 32)], log_every=0)
  after = held_out_loss(result.state["variables"])
  assert after < 0.7 * before, (before, after)
  assert (tmp_path / "run" / "samples" / "step_000020.jpg").is_file()
  history = json.loads((tmp_path / "run" / "losses.json").read_text())["history"]
  assert len(history["total"]) == 40 and len(history["time"]) == 40
  model = fast.load_model(tmp_path / "run" / "model.msgpack")
  assert model.meta["steps"] == 40


@pytest.mark.slow
def test_saturation_penalty_pulls_tanh_inputs_back_into_the_image_range(tiny_weights):
  """The scaled tanh reaches 0 and 1 at +-LOGIT_LIMIT; the penalty is the mean squared
  excess of |z| beyond it: its gradient pulls a saturated output back where the loss's
  own has vanished, and the training step follows it."""
  assert 0.5 + transformer.OUTPUT_SCALE * np.tanh(transformer.LOGIT_LIMIT) == pytest.approx(1)
  config = _tiny_train_config(learning_rate=1e-2)
  state = fast_train.init_state(config)
  params = state["variables"]["params"]
  # Saturate the output: a large bias on the last layer's first channel.
  params["out"]["conv"]["bias"] = jnp.asarray([8.0, 0.0, 0.0])
  state = {"variables": dict(state["variables"], params=params),
           "opt_state": fast_train.make_optimizer(config).init(params)}
  batch = jnp.asarray(np.stack([random_image(24, 24, seed=s) for s in (1, 2)]))
  targets = fast_train.style_targets(random_image(32, 32, seed=3), config, tiny_weights)
  out, z, _ = jax.jit(models.apply_train, static_argnums=0)(config.net, state["variables"],
                                                            batch)
  np.testing.assert_allclose(out, 0.5 + transformer.OUTPUT_SCALE * np.tanh(z), atol=1e-6)

  loss_fn = fast_train.make_loss_fn(config, tiny_weights)

  @jax.jit
  def bias_gradients(params):
    """d/d(last bias) of the loss alone and of the penalty alone."""
    def parts(p):
      out, z, _ = models.apply_train(config.net, dict(state["variables"], params=p), batch)
      loss = loss_fn(out, batch, targets, network_variables(tiny_weights))[0]
      penalty = jnp.mean(jnp.square(jax.nn.relu(jnp.abs(z) - transformer.LOGIT_LIMIT)))
      return jnp.stack([loss, penalty])
    return jax.jacrev(parts)(params)["out"]["conv"]["bias"][:, 0]

  g_loss, g_penalty = np.asarray(bias_gradients(params))
  # The saturated tanh leaves the loss almost no gradient (measured: -4.9e-4, upward),
  # the penalty a large one, downward (4.7).
  assert g_penalty > 1 and abs(g_loss) < 1e-3 * g_penalty, (g_loss, g_penalty)
  step = jax.jit(fast_train.make_train_step(config, tiny_weights))
  s = state
  for i in range(5):
    s, parts = step(s, batch, targets, network_variables(tiny_weights))
    if i == 0:  # The penalty at the start is the mean squared excess.
      excess = np.mean(np.square(np.maximum(np.abs(z) - transformer.LOGIT_LIMIT, 0)))
      np.testing.assert_allclose(parts["saturation"], excess, rtol=1e-4)
  # The library's step, penalty included: Adam (lr 1e-2) moves the bias down by ~lr a
  # step (a missing or sign-flipped penalty leaves Adam the loss's vanishing gradient,
  # whose sign flips with rounding: 8.035 after 5 steps here, 7.996 at XLA's -O0).
  assert float(s["variables"]["params"]["out"]["conv"]["bias"][0]) < 8.0 - 0.04


def test_resume_after_a_kill_equals_an_uninterrupted_run(tiny_weights, photo_dir, tmp_path):
  config = _tiny_train_config()
  style = random_image(32, 32, seed=9)
  kwargs = dict(weights=tiny_weights, num_steps=7, checkpoint_every=2, sample_every=0,
                log_every=0)
  whole = fast_train.train(config, style, photo_dir, tmp_path / "whole", **kwargs)
  killed = fast_train.train(config, style, photo_dir, tmp_path / "cut", stop_after=5, **kwargs)
  assert killed.step == 5  # Its last checkpoint is step 4: step 5 is lost.
  with pytest.raises(UserError, match="--resume"):
    fast_train.train(config, style, photo_dir, tmp_path / "cut", **kwargs)
  resumed = fast_train.train(config, style, photo_dir, tmp_path / "cut", resume=True, **kwargs)
  assert resumed.step == 7
  for a, b in zip(_params(whole), _params(resumed)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(whole.history["total"], resumed.history["total"])
  other = _tiny_train_config(style_weight=1.0)
  with pytest.raises(UserError, match="different configuration"):
    fast_train.train(other, style, photo_dir, tmp_path / "cut", resume=True, **kwargs)


def _no_files(folder):
  return [p for p in folder.rglob("*") if p.is_file()] == []


def test_a_checkpoint_is_kept_when_the_disk_is_full(tmp_path, full_disk):
  out = full_disk(tmp_path / "run")
  state = {"variables": {"w": np.arange(3.0)}, "opt_state": {"m": np.zeros(3)}}
  with pytest.raises(OutputError, match="No space left on device") as e:
    fast_train.save_checkpoint(out / fast_train.CHECKPOINT_NAME, state, {"step": 7})
  assert f"kept the checkpoint in {e.value.kept}" in str(e.value)
  restored, meta = fast_train.load_checkpoint(e.value.kept, state)
  assert meta == {"step": 7}
  np.testing.assert_array_equal(restored["variables"]["w"], np.arange(3.0))
  assert _no_files(out)
