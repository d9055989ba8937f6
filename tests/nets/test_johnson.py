"""The feed-forward network, its training (loss, resume) and inference, on tiny networks."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxstyle import johnson as fast
from jaxstyle.johnson import models, training as fast_train
from jaxstyle.nets import johnson as transformer
from jaxstyle import images as images_lib, losses
from jaxstyle.errors import UserError
from jaxstyle.kernels import johnson_cpu
from jaxstyle.features import network_variables

from tests.commands import run_main
from tests.conftest import random_image

TINY_NET = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
# Jitted: flax's apply run op by op takes seconds.
_apply = jax.jit(models.apply, static_argnums=0, static_argnames="train")


def _tiny_train_config(**overrides):
  settings = dict(net=TINY_NET, content_weight=1.0, style_weight=1e-2, tv_weight=10.0,
                  learning_rate=3e-3, batch_size=2, crop_size=24, seed=3)
  settings.update(overrides)
  return fast_train.TrainConfig(**settings)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
  """Eight small random photos in two sizes (portrait and landscape: each size the
  network meets compiles anew), and one file that is not an image."""
  d = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(0)
  for i in range(8):
    h, w = (40, 32) if i % 2 else (32, 40)
    smooth = np.cumsum(rng.uniform(-1, 1, size=(h, w, 3)), axis=1)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-9)
    Image.fromarray((smooth * 255).astype(np.uint8)).save(d / f"photo{i}.png")
  (d / "broken.jpg").write_bytes(b"not a jpeg at all")
  return d


def _np_conv(x, kernel, stride=1):
  """VALID convolution of x [N, H, W, Ci] with kernel [k, k, Ci, Co], float64."""
  k = kernel.shape[0]
  oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
  out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
  for i in range(k):
    for j in range(k):
      patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      out += patch @ kernel[i, j]
  return out


def _np_transform(config, variables, images, train):
  """Johnson et al.'s network in NumPy from its description (nets/johnson.py's
  docstring): pad to a multiple of 4 (reflect; edge for 1 px), centre, 9x9 conv ->
  two stride-2 3x3 convs -> residual blocks -> two 2x upsamplings (nearest + 3x3 conv,
  or a transposed 3x3 stride-2 conv) -> 9x9 conv, every conv reflection-padded, each
  but the last followed by the norm and a ReLU; then 0.5 + 150/255 tanh, cropped back,
  clipped to [0, 1] outside training."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"])
  stats = jax.tree.map(lambda a: np.asarray(a, np.float64), variables.get("batch_stats", {}))
  relu = lambda x: np.maximum(x, 0)

  def conv(x, name_params, stride=1, upsampled=False):
    if upsampled:
      x = x.repeat(2, 1).repeat(2, 2)
    kernel = name_params["conv"]["kernel"]
    pad = kernel.shape[0] // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    return _np_conv(x, kernel, stride) + name_params["conv"]["bias"]

  def norm(x, *path):
    affine, running = p, stats
    for key in path:
      affine, running = affine[key], running.get(key, {})
    if config.norm == "instance":
      mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    elif train:  # Batch norm: this batch's statistics.
      affine, mean, var = affine["bn"], x.mean((0, 1, 2)), x.var((0, 1, 2))
    else:  # Batch norm: the running averages.
      affine, mean, var = affine["bn"], running["bn"]["mean"], running["bn"]["var"]
    return (x - mean) / np.sqrt(var + 1e-5) * affine["scale"] + affine["bias"]

  def transposed(x, params):  # lax.conv_transpose "SAME", stride 2: dilate, pad (2, 1).
    n, h, w, c = x.shape
    dilated = np.zeros((n, 2 * h - 1, 2 * w - 1, c))
    dilated[:, ::2, ::2] = x
    dilated = np.pad(dilated, ((0, 0), (2, 1), (2, 1), (0, 0)))
    return _np_conv(dilated, params["kernel"]) + params["bias"]

  n, h, w, _ = images.shape
  x = np.pad(np.asarray(images, np.float64), ((0, 0), (0, -h % 4), (0, -w % 4), (0, 0)),
             mode="reflect" if min(h, w) > 1 else "edge") - 0.5
  for i, stride in ((1, 1), (2, 2), (3, 2)):
    x = relu(norm(conv(x, p[f"down{i}"], stride), f"down{i}_norm"))
  for i in range(config.num_residual):
    res = f"res{i + 1}"
    y = relu(norm(conv(x, p[res]["conv1"]), res, "norm1"))
    x = x + norm(conv(y, p[res]["conv2"]), res, "norm2")
  for i in (1, 2):
    x = (conv(x, p[f"up{i}"], upsampled=True) if config.upsample == "nearest"
         else transposed(x, p[f"up{i}"]))
    x = relu(norm(x, f"up{i}_norm"))
  y = 0.5 + transformer.OUTPUT_SCALE * np.tanh(conv(x, p["out"])[:, :h, :w])
  return y if train else np.clip(y, 0, 1)


def _randomized(variables, seed):
  """Every bias, norm affine and running statistic drawn at random (at init they are
  0 and 1, which would hide a layer that forgets them); the last layer's biases push
  two channels past the ends of [0, 1]."""
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = path[-1].key
    if name in ("bias", "mean"):
      return jnp.asarray(rng.normal(0, 0.3, leaf.shape), jnp.float32)
    if name in ("scale", "var"):
      return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), jnp.float32)
    return leaf

  variables = jax.tree_util.tree_map_with_path(draw, variables)
  variables["params"]["out"]["conv"]["bias"] = jnp.asarray([2.0, -2.0, 0.0])
  return variables


@pytest.mark.parametrize("norm,upsample", [("instance", "nearest"), ("batch", "transpose")])
@pytest.mark.slow
def test_network_equals_the_numpy_reference(norm, upsample):
  """The network (its CPU kernels) against NumPy, in training and inference, at a size
  that is not a multiple of 4 (two images, so batch norm's statistics span both), and
  at 1 px (edge padding); the outputs keep the input's size."""
  config = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1, norm=norm,
                                            upsample=upsample)
  variables = _randomized(transformer.init_variables(config, seed=1), seed=2)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 7, 10, 3)), jnp.float32)
  for train in (False, True):
    y, _ = _apply(config, variables, x, train=train)
    assert y.shape == x.shape
    want = _np_transform(config, variables, x, train)
    np.testing.assert_allclose(y, want, atol=2e-4, err_msg=f"train={train}")
    if train:  # Johnson et al.'s scaled tanh, not clipped: it overshoots [0, 1].
      assert want.min() < 0 and want.max() > 1
  if norm == "instance":
    one = jnp.full((1, 1, 1, 3), 0.3, jnp.float32)
    np.testing.assert_allclose(_apply(config, variables, one)[0],
                               _np_transform(config, variables, one, False), atol=2e-4)


def test_reflect_pad_mirrors_without_the_edge():
  x = jnp.arange(4.0).reshape(1, 1, 4, 1)
  x = jnp.broadcast_to(x, (1, 3, 4, 1))
  padded = transformer.reflect_pad(x, 2)
  np.testing.assert_array_equal(padded[0, 2, :, 0], [2, 1, 0, 1, 2, 3, 2, 1])


def test_upsample_nearest_repeats_pixels():
  x = jnp.arange(6.0).reshape(1, 2, 3, 1)
  y = transformer.upsample_nearest(x)
  np.testing.assert_array_equal(y[0, :, :, 0], np.repeat(np.repeat(x[0, :, :, 0], 2, 0), 2, 1))


def test_default_network_is_johnsons():
  config = transformer.ImageTransformConfig()
  variables = transformer.init_variables(config)
  params = variables["params"]
  assert params["down1"]["conv"]["kernel"].shape == (9, 9, 3, 32)
  assert params["down2"]["conv"]["kernel"].shape == (3, 3, 32, 64)
  assert params["down3"]["conv"]["kernel"].shape == (3, 3, 64, 128)
  assert len([k for k in params if k.startswith("res")]) == 5
  assert params["out"]["conv"]["kernel"].shape == (9, 9, 32, 3)
  assert "batch_stats" not in variables


def _norm_outputs(config, x, train):
  """The first normalization layer's output (before ReLU) at init (affine = identity)."""
  model = transformer.ImageTransformNet(config)
  variables = transformer.init_variables(config, seed=0)
  _, state = jax.jit(lambda v, x: model.apply(
      v, x, train=train, capture_intermediates=True,
      mutable=["intermediates", "batch_stats"]))(variables, x)
  return np.asarray(state["intermediates"]["down1_norm"]["__call__"][0])


def test_instance_norm_normalizes_each_image_and_channel():
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 20, 20, 3)) * np.array(
      [1, 3, 5])[:, None, None, None], jnp.float32)
  y = _norm_outputs(TINY_NET, x, train=True)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
  np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-2)


def test_batch_norm_normalizes_over_the_batch_only():
  config = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1, norm="batch")
  scale = np.array([1, 3, 5])[:, None, None, None]
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 20, 20, 3)) * scale, jnp.float32)
  y = _norm_outputs(config, x, train=True)
  np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
  np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-2)
  per_image = y.std(axis=(1, 2))
  assert per_image[0].mean() < 0.7 * per_image[2].mean()  # Images keep their contrast.


def test_instance_norm_output_does_not_depend_on_the_batch():
  variables = transformer.init_variables(TINY_NET)
  # test_network_equals_the_numpy_reference's shape: its compiled program is reused.
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 7, 10, 3)), jnp.float32)
  alone, _ = _apply(TINY_NET, variables, x[:1], train=True)
  together, _ = _apply(TINY_NET, variables, x, train=True)
  np.testing.assert_allclose(alone[0], together[0], atol=1e-5)


def test_batch_norm_updates_running_stats_only_in_training():
  # test_network_equals_the_numpy_reference's network and shape: its programs are reused.
  config = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1, norm="batch",
                                            upsample="transpose")
  variables = transformer.init_variables(config)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 7, 10, 3)), jnp.float32)
  _, same = _apply(config, variables, x, train=False)
  _, updated = _apply(config, variables, x, train=True)
  before = variables["batch_stats"]["down1_norm"]["bn"]["mean"]
  np.testing.assert_array_equal(same["batch_stats"]["down1_norm"]["bn"]["mean"], before)
  assert not np.allclose(updated["batch_stats"]["down1_norm"]["bn"]["mean"], before)


def test_model_file_round_trip_and_errors(tmp_path):
  variables = transformer.init_variables(TINY_NET, seed=2)
  model = models.FastModel(TINY_NET, variables, {"style": "x.jpg"})
  x = random_image(24, 32)
  models.save_model(model, tmp_path / "m32.msgpack")
  models.save_model(model, tmp_path / "m16.msgpack", dtype="float16")
  m32 = fast.load_model(tmp_path / "m32.msgpack")
  m16 = fast.load_model(tmp_path / "m16.msgpack")
  assert m32.config == TINY_NET and m32.meta == {"style": "x.jpg"}
  np.testing.assert_array_equal(fast.stylize_fast(m32, x), fast.stylize_fast(model, x))
  np.testing.assert_allclose(fast.stylize_fast(m16, x), fast.stylize_fast(model, x), atol=1e-2)
  (tmp_path / "junk.msgpack").write_bytes(b"\x00\x01junk")
  with pytest.raises(UserError, match="not a jaxstyle fast-style model"):
    fast.load_model(tmp_path / "junk.msgpack")
  with pytest.raises(UserError, match="does not exist"):
    fast.load_model(tmp_path / "missing.msgpack")


def test_batched_gram_is_the_papers_gram_per_position():
  f = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
  g = np.asarray(losses.batched_gram(jnp.asarray(f)))
  for i in range(2):
    flat = f[i].reshape(-1, 4)
    np.testing.assert_allclose(g[i], flat.T @ flat / 15, rtol=1e-5)


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


@pytest.mark.slow
def test_inference_on_a_directory_skips_bad_files(photo_dir, tmp_path):
  variables = transformer.init_variables(TINY_NET, seed=2)
  models.save_model(models.FastModel(TINY_NET, variables), tmp_path / "m.msgpack")
  done = run_main("jaxstyle.cli.fast", f"--model={tmp_path / 'm.msgpack'}",
                  f"--content={photo_dir}", f"--output={tmp_path / 'out'}")
  assert done.returncode == 0, done.stderr
  assert "8 stylized, 1 failed" in done.stdout and "broken.jpg" in done.stdout
  assert "ms per image (median of 6" in done.stdout  # 8 images, 2 sizes: 2 compile.
  written = sorted(p.name for p in (tmp_path / "out").iterdir())
  assert written == [f"photo{i}.jpg" for i in range(8)]
  for i in (2, 3):
    with Image.open(tmp_path / "out" / f"photo{i}.jpg") as im, Image.open(
        photo_dir / f"photo{i}.png") as src:
      assert im.size == src.size


def test_inference_refuses_two_inputs_with_one_output_name(tmp_path):
  """a.png and a.jpg in one directory would both become OUT/a.jpg: refused, nothing
  written."""
  variables = transformer.init_variables(TINY_NET, seed=2)
  models.save_model(models.FastModel(TINY_NET, variables), tmp_path / "m.msgpack")
  photos = tmp_path / "photos"
  photos.mkdir()
  for name in ("a.png", "a.jpg", "b.png"):
    Image.fromarray((random_image(24, 32) * 255).astype(np.uint8)).save(photos / name)
  done = run_main("jaxstyle.cli.fast", f"--model={tmp_path / 'm.msgpack'}",
                  f"--content={photos}", f"--output={tmp_path / 'out'}")
  assert done.returncode == 1, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "would both be written to" in last, last
  assert str(tmp_path / "out" / "a.jpg") in last
  assert not (tmp_path / "out").exists()


def _direct_conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("cin, cout", [(3, 8), (8, 3)])
def test_large_kernel_convolutions_equal_the_direct_one(cin, cout):
  """The 9x9 input (im2col) and output (shifted sums) layers compute the same VALID
  convolution, at odd sizes too."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 19, 14, cin)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(9, 9, cin, cout)), jnp.float32)
  fast = johnson_cpu.conv_wide_in if cin < cout else johnson_cpu.conv_wide_out
  np.testing.assert_allclose(fast(x, kernel), _direct_conv(x, kernel), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("h, w", [(6, 5), (1, 3)])
def test_upsample_conv_equals_conv_of_the_upsampled_image(h, w):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  up = transformer.upsample_nearest(x)
  padded = jnp.pad(up, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  np.testing.assert_allclose(johnson_cpu.upsample_conv(x, kernel), _direct_conv(padded, kernel),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h, w", [(8, 8), (5, 7), (2, 3), (1, 4)])
def test_reflect_conv3x3_equals_the_valid_convolution_of_the_padded_image(h, w):
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  padded = transformer.reflect_pad(x, 1)
  np.testing.assert_allclose(johnson_cpu.reflect_conv3x3(x, kernel),
                             _direct_conv(padded, kernel), rtol=1e-4, atol=1e-4)


def test_committed_models_match_their_manifest_and_load():
  """Every model under models/ is listed with its size and sha256, is at most 8 MB and
  loads with this version of the network (a format change must come with retraining)."""
  import hashlib  # pylint: disable=import-outside-toplevel
  root = pathlib.Path(__file__).resolve().parents[1] / "models"
  manifest = json.loads((root / "manifest.json").read_text())
  listed = {m["file"] for m in manifest["models"]}
  assert listed == {p.name for p in root.glob("*.msgpack")}
  for entry in manifest["models"]:
    blob = (root / entry["file"]).read_bytes()
    assert len(blob) == entry["bytes"] <= 8 * 2**20, entry["file"]
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"], entry["file"]
    model = fast.load_model(root / entry["file"])
    assert model.meta["steps"] == entry["steps"]
    assert (root / entry["losses"]).is_file()


@pytest.mark.parametrize("h, w", [(10, 10), (9, 12), (3, 3)])
def test_blocked_stride2_convolution_equals_the_strided_one(h, w):
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(2, h, w, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  want = jax.lax.conv_general_dilated(x, kernel, (2, 2), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(johnson_cpu.conv_stride2(x, kernel), want, rtol=1e-4, atol=1e-4)
