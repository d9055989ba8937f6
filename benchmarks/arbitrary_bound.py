r"""What bounds the style predictor's time on this CPU: its 1x1 products alone.

  python -m benchmarks.arbitrary_bound          # 30 s on a 2-core machine

The style predictor (MobileNetV2) spends most of its multiply-adds in the 34 1x1
convolutions, which `kernels.arbitrary_cpu.SameConv` runs as matrix products. This
times each of those products at their real shapes (a --size x --size style image,
random data, arrays already on the device), jitted one by one with the bias and ReLU6
they carry, in float32 (what the library runs), with bfloat16 operands and float32
accumulation, and in int8 with int32 accumulation (what onnxruntime's graph does), and
the whole float32 predictor beside them. Each call's fixed cost (a jitted function with
nothing to compute) is taken from the sums. The sum over the layers is a lower bound for
a network in that arithmetic on XLA:CPU: the depthwise layers, the stem and the head's
pooling come on top. Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import time

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

ROOT = pathlib.Path(__file__).resolve().parents[1]

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This script's flags (defined when it runs, so that importing it defines none)."""
  flags.DEFINE_integer("size", 256, "Side of the square style image, px.")
  flags.DEFINE_integer("repeats", 30, "Timed calls per product (the median is kept).")
  flags.DEFINE_string("name", "arbitrary_bound_cpu", "Results: benchmarks/results/NAME.json.")


def pointwise_layers(size: int) -> list[tuple[int, int, int]]:
  """(positions, input channels, output channels) of the predictor's 1x1 layers."""
  from jaxstyle.nets import arbitrary as nets  # pylint: disable=import-outside-toplevel
  side = -(-size // 2)  # After the stride-2 stem.
  cin, layers = nets.STEM_WIDTH, []
  for t, c, s in nets.block_specs():
    if t != 1:
      layers.append((side * side, cin, cin * t))
    side = -(-side // s)
    layers.append((side * side, cin * t, c))
    cin = c
  layers.append((side * side, cin, nets.HEAD_WIDTH))
  return layers


def _median_ms(fn, *args) -> float:
  fn(*args).block_until_ready()
  times = []
  for _ in range(FLAGS.repeats):
    t0 = time.perf_counter()
    fn(*args).block_until_ready()
    times.append((time.perf_counter() - t0) * 1000)
  return float(np.median(times))


def main(argv):
  del argv
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jaxstyle.arbitrary import inference as arbitrary  # pylint: disable=import-outside-toplevel
  from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  products = {
      "float32": jax.jit(lambda x, k, b: jnp.clip(
          jnp.dot(x, k, precision=jax.lax.Precision.HIGHEST) + b, 0, 6)),
      "bfloat16": jax.jit(lambda x, k, b: jnp.clip(
          jnp.dot(x, k, preferred_element_type=jnp.float32) + b, 0, 6)),
      "int8": jax.jit(lambda x, k, b: jnp.dot(x, k, preferred_element_type=jnp.int32) + b),
  }
  layers, totals, macs = [], dict.fromkeys(products, 0.0), 0
  for m, k, n in pointwise_layers(FLAGS.size):
    x, w = rng.random((m, k), np.float32), rng.random((k, n), np.float32) - 0.5
    args = {
        "float32": (x, w, np.zeros(n, np.float32)),
        "bfloat16": (x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), np.zeros(n, np.float32)),
        "int8": ((x * 127).astype(np.int8), (w * 254).astype(np.int8), np.zeros(n, np.int32)),
    }
    row = {"shape": [m, k, n]}
    for name, fn in products.items():
      row[name] = _median_ms(fn, *jax.device_put(args[name]))
      totals[name] += row[name]
    macs += m * k * n
    layers.append(row)
  # What one call of a jitted function costs with nothing to compute (taken from each).
  dispatch = _median_ms(jax.jit(lambda x: x + 1), jax.device_put(np.zeros(8, np.float32)))
  net = {name: total - len(layers) * dispatch for name, total in totals.items()}
  weights = weights_lib.ensure_default(log=logging.info)
  image = rng.random((1, FLAGS.size, FLAGS.size, 3), np.float32)
  params = arbitrary._device_params(weights, "predictor")  # pylint: disable=protected-access
  forward = arbitrary._predictor("cpu", "float32")  # pylint: disable=protected-access
  whole = _median_ms(forward, params, jax.device_put(image))
  results = {
      "date": datetime.date.today().isoformat(), "machine": machine.describe(),
      "jax": jax.__version__, "size": FLAGS.size, "pointwise_macs": macs,
      "pointwise_ms": totals, "dispatch_ms": dispatch, "pointwise_ms_net_of_dispatch": net,
      "whole_predictor_float32_ms": whole,
      "float32_gmacs_per_s": macs / net["float32"] / 1e6, "layers": layers}
  out = ROOT / "benchmarks" / "results" / f"{FLAGS.name}.json"
  out.write_text(json.dumps(results, indent=1))
  print(f"{len(layers)} 1x1 layers, {macs / 1e6:.0f} M multiply-adds at {FLAGS.size} px: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in net.items())
        + f" (net of {dispatch * 1000:.0f} us per call)"
        + f"; the whole float32 predictor {whole:.2f} ms\nwrote {out}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
