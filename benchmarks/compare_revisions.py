r"""Before/after timings of two source trees of jaxstyle, side by side in one run.

  git worktree add /tmp/before <commit>
  python -m benchmarks.compare_revisions --before=/tmp/before --sizes=256,512 --steps=30 \
      --rounds=2 --output=benchmarks/results/before_after_cpu.json

Each round runs `benchmarks.worker` (one configuration per process) from each tree in
turn, alternating the order, with the same weights, images and white noise; the
report is each tree's median steady ms per L-BFGS iteration (the first, compiling
iteration excluded) and the ratio after/before.
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
flags.DEFINE_string("output", None, "JSON results.")
FLAGS = flags.FLAGS

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"


def _run(tree: str, size: int) -> dict:
  env = dict(os.environ, PYTHONPATH=tree,
             JAXSTYLE_WEIGHTS=os.environ.get(
                 "JAXSTYLE_WEIGHTS", str(pathlib.Path(FLAGS.after) / "weights" / "vgg19.npz")))
  command = [sys.executable, "-m", "benchmarks.worker", "--impl=jax", f"--size={size}",
             f"--steps={FLAGS.steps}", f"--content={_SHARED / 'tubingen.jpg'}",
             f"--style={_SHARED / 'starry_night.jpg'}"]
  done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


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
  if FLAGS.output:
    pathlib.Path(FLAGS.output).write_text(json.dumps(
        {"before": FLAGS.before, "after": FLAGS.after, "steps": FLAGS.steps,
         "results": results}, indent=1))


if __name__ == "__main__":
  app.run(main)
