r"""The memory estimate against measured peaks, untiled and tiled.

  python -m benchmarks.memory                 # this CPU: ~15 min
  python -m benchmarks.memory --runs=2048:0,2048:512 --steps=2

Each run is benchmarks/worker.py in a fresh process (Tübingen x The Starry Night, one
scale, L-BFGS with --history pairs, --steps iterations; its peak RSS is the whole
process's), beside `gatys.memory.memory_parts` for the same image, history, kernels and
tiles. Writes benchmarks/results/memory_cpu.json; the table goes in
benchmarks/README.md, "Memory". The estimate must be at or above every peak, by at most
15 %; it also reports seconds per iteration, so that tiled and untiled compare.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

flags.DEFINE_list("runs", ["512:0", "1024:0", "2048:0", "2048:512"],
                  "SIZE:TILE pairs: the image's longer side and the tile size (0: untiled).")
flags.DEFINE_integer("steps", 3, "L-BFGS iterations per run.")
flags.DEFINE_integer("history", 20, "L-BFGS history (jaxstyle's default).")
flags.DEFINE_string("content", None, "Content image (default: the worker's, Tübingen).")
flags.DEFINE_string("style", None, "Style image (default: the worker's, The Starry Night).")
flags.DEFINE_string("weights", None, "Weights .npz for the workers (default: jaxstyle's "
                    "default VGG-19; the estimate is always the real network's).")
flags.DEFINE_string("output", "benchmarks/results/memory_cpu.json", "Results file.")
FLAGS = flags.FLAGS


def _run(size: int, tile: int) -> dict:
  command = [sys.executable, "-m", "benchmarks.worker", "--impl=jax", "--method=lbfgs",
             f"--size={size}", f"--steps={FLAGS.steps}", f"--history={FLAGS.history}"]
  if tile:
    command.append(f"--tile_size={tile}")
  for name in ("weights", "content", "style"):
    if FLAGS[name].value:
      command.append(f"--{name}={FLAGS[name].value}")
  logging.info("running %s", " ".join(command[2:]))
  done = subprocess.run(command, capture_output=True, text=True, check=True,
                        env=dict(os.environ, PYTHONPATH=os.getcwd()))
  return json.loads(done.stdout.strip().splitlines()[-1])


def _estimate(height: int, width: int, tile: int) -> dict[str, int]:
  from jaxstyle.gatys import memory, objective  # pylint: disable=import-outside-toplevel
  return memory.memory_parts(
      height, width, num_seeds=1, method="lbfgs", history_size=FLAGS.history,
      layers=objective.DEFAULT_CONTENT_LAYERS + objective.DEFAULT_STYLE_LAYERS,
      content_layers=objective.DEFAULT_CONTENT_LAYERS, tile_size=tile or None)


def main(argv):
  del argv
  rows = []
  for run in FLAGS.runs:
    size, tile = (int(v) for v in run.split(":"))
    result = _run(size, tile)
    height, width = result["shape"]
    parts = _estimate(height, width, tile)
    estimate_mb = sum(parts.values()) / 2**20
    row = {"height": height, "width": width, "tile_size": tile or None,
           "peak_rss_mb": result["peak_rss_mb"], "estimate_mb": estimate_mb,
           "ratio": estimate_mb / result["peak_rss_mb"],
           "parts_mb": {k: v / 2**20 for k, v in parts.items()},
           "s_per_iteration": float(np.median(np.diff(result["times"][1:]))),
           "first_step_s": result["first_step_s"], "targets_s": result["targets_s"]}
    logging.info("%dx%d tile %s: peak %.0f MB, estimate %.0f MB (%.3fx), %.1f s/iteration",
                 width, height, tile or "-", row["peak_rss_mb"], estimate_mb, row["ratio"],
                 row["s_per_iteration"])
    rows.append(row)
  out = {"machine": machine.describe(), "steps": FLAGS.steps, "history": FLAGS.history,
         "runs": rows}
  pathlib.Path(FLAGS.output).write_text(json.dumps(out, indent=1) + "\n")
  print("| image | tiles | peak RSS | estimate | estimate / peak | s / iteration |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['width']}x{r['height']} | {r['tile_size'] or '—'} | "
          f"{r['peak_rss_mb'] / 1024:.2f} GiB | {r['estimate_mb'] / 1024:.2f} GiB | "
          f"{r['ratio']:.3f} | {r['s_per_iteration']:.1f} |")


if __name__ == "__main__":
  app.run(main)
