r"""A weight sweep as one program against one point and against separate runs.

  python -m benchmarks.weight_sweep --image_size=96 --num_steps=10 --rounds=2 \
      --output=benchmarks/results/weight_sweep_96.json
  python -m benchmarks.weight_sweep --image_size=256 --num_steps=300 --rounds=1 \
      --separate --output=benchmarks/results/weight_sweep_256.json

Whole `jaxstyle` processes (the demo pair, scikit-image's Chelsea x ihc.png, or
--content/--style), compilation
cache off, so each process compiles what it runs: the sweep (`--style_weight=A,B,C`, one
vmapped program), one point (`--style_weight=B`) and, with --separate, the three points
as three processes. Rounds alternate the order. The report: each kind's median wall
seconds and the ratios sweep / one point and sweep / separate (issue 27's goals: at most
1.6 at 96 px, 10 steps; at most 1 at 256 px, 300 steps).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("image_size", 96, "Longer side, px.")
flags.DEFINE_integer("num_steps", 10, "L-BFGS steps.")
flags.DEFINE_list("style_weights", ["1e-4", "1e-3", "1e-2"], "The sweep's points.")
flags.DEFINE_integer("rounds", 2, "Rounds (each runs every kind once, alternating order).")
flags.DEFINE_boolean("separate", False, "Also time one process per point.")
flags.DEFINE_string("output", None, "JSON results.")
flags.DEFINE_string("content", None, "Content image (default: the demo pair's).")
flags.DEFINE_string("style", None, "Style image (default: the demo pair's).")
flags.DEFINE_string("keep", None, "Folder to keep the last sweep's images and sheet in.")
FLAGS = flags.FLAGS

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _jaxstyle(style_weight: str, out_dir: str) -> float:
  """Wall seconds of one whole `jaxstyle` process."""
  inputs = ([f"--content={FLAGS.content}", f"--style={FLAGS.style}"]
            if FLAGS.content and FLAGS.style else ["--demo"])
  args = [sys.executable, "-m", "jaxstyle.stylize", *inputs,
          f"--image_size={FLAGS.image_size}", f"--num_steps={FLAGS.num_steps}",
          f"--style_weight={style_weight}", "--compilation_cache=", "--log_every=0",
          f"--output={out_dir}/out.png"]
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  start = time.perf_counter()
  done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
  seconds = time.perf_counter() - start
  if done.returncode != 0:
    raise SystemExit(f"jaxstyle failed: {done.stderr[-2000:]}")
  return seconds


def main(argv):
  del argv
  points = FLAGS.style_weights
  kinds = {"sweep": lambda d: _jaxstyle(",".join(points), FLAGS.keep or d),
           "one_point": lambda d: _jaxstyle(points[len(points) // 2], d)}
  if FLAGS.separate:
    kinds["separate"] = lambda d: sum(_jaxstyle(p, d) for p in points)
  times = {k: [] for k in kinds}
  with tempfile.TemporaryDirectory() as out_dir:
    for r in range(FLAGS.rounds):
      order = list(kinds) if r % 2 == 0 else list(kinds)[::-1]
      for kind in order:
        times[kind].append(kinds[kind](out_dir))
        print(f"round {r + 1} {kind}: {times[kind][-1]:.1f} s", flush=True)
  median = {k: float(np.median(v)) for k, v in times.items()}
  report = {"image_size": FLAGS.image_size, "num_steps": FLAGS.num_steps, "points": points,
            "rounds": FLAGS.rounds, "seconds": times, "median_seconds": median,
            "sweep_over_one_point": median["sweep"] / median["one_point"]}
  if FLAGS.separate:
    report["sweep_over_separate"] = median["sweep"] / median["separate"]
  from benchmarks import machine  # pylint: disable=import-outside-toplevel
  report["machine"] = machine.describe()
  print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))
  if FLAGS.output:
    pathlib.Path(FLAGS.output).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
  app.run(main)
