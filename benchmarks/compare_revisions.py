r"""Before/after timings of two source trees of jaxstyle, side by side in one run.

  git worktree add /tmp/before <commit>
  python -m benchmarks.compare_revisions --before=/tmp/before --sizes=256,512 --steps=30 \
      --rounds=2 --output=benchmarks/results/before_after_cpu.json

Each round runs `benchmarks.worker` (one configuration per process) from each tree in
turn, alternating the order, with the same weights, images and white noise; the
report is each tree's median steady ms per L-BFGS iteration (the first, compiling
iteration excluded) and the ratio after/before. With --fast_sizes it also times the
feed-forward network (models/starry_night.msgpack, one image) in each tree the same way.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from absl import app, flags

flags.DEFINE_string("before", None, "Source tree of the 'before' revision.", required=True)
flags.DEFINE_string("after", str(pathlib.Path(__file__).resolve().parents[1]),
                    "Source tree of the 'after' revision (default: this one).")
flags.DEFINE_list("sizes", ["256", "512"], "Longer sides, px.")
flags.DEFINE_integer("steps", 30, "Iterations per run.")
flags.DEFINE_integer("rounds", 2, "Runs per tree and size (alternating).")
flags.DEFINE_list("fast_sizes", [], "Longer sides for the feed-forward network, px.")
flags.DEFINE_integer("steps_per_call", 0, "Also run the 'after' tree with this many steps "
                     "per device call (0: not), against its default, at the first size.")
flags.DEFINE_integer("fast_repeats", 10, "Timed forward passes per run.")
flags.DEFINE_string("output", None, "JSON results.")
FLAGS = flags.FLAGS

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"


def _run(tree: str, size: int, *extra: str) -> dict:
  env = dict(os.environ, PYTHONPATH=tree,
             JAXSTYLE_WEIGHTS=os.environ.get(
                 "JAXSTYLE_WEIGHTS", str(pathlib.Path(FLAGS.after) / "weights" / "vgg19.npz")))
  command = [sys.executable, "-m", "benchmarks.worker", "--impl=jax", f"--size={size}",
             f"--steps={FLAGS.steps}", f"--content={_SHARED / 'tubingen.jpg'}",
             f"--style={_SHARED / 'starry_night.jpg'}", *extra]
  done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


# Runs in either tree: the feed-forward API moved from jaxstyle.fast to jaxstyle.johnson.
_FAST = """
import sys, time, json
import numpy as np
try:
  from jaxstyle.johnson import load_model, stylize_fast
except ImportError:
  from jaxstyle.fast import load_model, stylize_fast
size, repeats = int(sys.argv[1]), int(sys.argv[2])
model = load_model("models/starry_night.msgpack")
x = np.random.default_rng(0).uniform(size=(1, size * 3 // 4, size, 3)).astype(np.float32)
stylize_fast(model, x)
times = []
for _ in range(repeats):
  t = time.perf_counter(); stylize_fast(model, x); times.append(time.perf_counter() - t)
print(json.dumps({"ms": 1000 * float(np.median(times))}))
"""


def _run_fast(tree: str, size: int) -> float:
  env = dict(os.environ, PYTHONPATH=tree)
  done = subprocess.run([sys.executable, "-c", _FAST, str(size), str(FLAGS.fast_repeats)],
                        cwd=tree, env=env, capture_output=True, text=True, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])["ms"]


def main(argv):
  del argv
  trees = {"before": FLAGS.before, "after": FLAGS.after}
  results = {}
  for size in map(int, FLAGS.sizes):
    ms = {"before": [], "after": []}
    for r in range(FLAGS.rounds):
      for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
        out = _run(trees[name], size)
        times = np.asarray(out["times"])
        ms[name].append(1000 * float(np.median(np.diff(times[1:]))))
        print(f"{size} px {name}: {ms[name][-1]:.0f} ms/iteration", file=sys.stderr)
    med = {k: float(np.median(v)) for k, v in ms.items()}
    results[size] = {"ms_per_iteration": ms, "median": med, "ratio": med["after"] / med["before"]}
    print(f"| {size} px | {med['before']:.0f} | {med['after']:.0f} | "
          f"{med['after'] / med['before']:.2f}x |")
  if FLAGS.steps_per_call:
    size = int(FLAGS.sizes[0])
    ms = {"default": [], f"{FLAGS.steps_per_call} per call": []}
    for r in range(FLAGS.rounds):
      for name in (list(ms) if r % 2 == 0 else list(ms)[::-1]):
        extra = () if name == "default" else (f"--steps_per_call={FLAGS.steps_per_call}",)
        times = np.asarray(_run(FLAGS.after, size, *extra)["times"])
        # Steps after the first (compiling) call; a call's steps share one timestamp.
        later = int(np.sum(times > times[0]))
        ms[name].append(1000 * float((times[-1] - times[0]) / later))
        print(f"{size} px after, {name}: {ms[name][-1]:.0f} ms/iteration", file=sys.stderr)
    med = {k: float(np.median(v)) for k, v in ms.items()}
    results[f"steps_per_call_{size}"] = {"ms_per_iteration": ms, "median": med}
    print(f"| after, {size} px, steps per call: default vs {FLAGS.steps_per_call} | "
          + " | ".join(f"{v:.0f}" for v in med.values()) + " |")
  for size in map(int, FLAGS.fast_sizes):
    ms = {"before": [], "after": []}
    for r in range(FLAGS.rounds):
      for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
        ms[name].append(_run_fast(trees[name], size))
        print(f"feed-forward {size} px {name}: {ms[name][-1]:.0f} ms", file=sys.stderr)
    med = {k: float(np.median(v)) for k, v in ms.items()}
    results[f"fast_{size}"] = {"ms_per_image": ms, "median": med,
                               "ratio": med["after"] / med["before"]}
    print(f"| feed-forward {size} px | {med['before']:.0f} | {med['after']:.0f} | "
          f"{med['after'] / med['before']:.2f}x |")
  if FLAGS.output:
    pathlib.Path(FLAGS.output).write_text(json.dumps(
        {"before": FLAGS.before, "after": FLAGS.after, "steps": FLAGS.steps,
         "results": results}, indent=1))


if __name__ == "__main__":
  app.run(main)
