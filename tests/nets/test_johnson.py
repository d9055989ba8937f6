"""Johnson et al.'s image transformation network (jaxstyle.nets.johnson) against NumPy
written from its description, its padding, upsampling and normalizations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer

TINY_NET = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
# Jitted: flax's apply run op by op takes seconds.
_apply = jax.jit(models.apply, static_argnums=0, static_argnames="train")


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
