r"""A 4096x3072 output in the default look, whole and at 1:1 (README, "Large outputs").

  python -m experiments.large_output       # runs the command below: ~75 min on 2 CPU cores
  python -m experiments.large_output --image=big.png --run_json=big.json   # a finished run

Runs, in a child process,

  jaxstyle --content=tubingen.jpg --style=starry_night.jpg --image_size=4096 --scales=4
      --scale_steps=100,30,12,10 --output=... --metrics_json=...

(the command's defaults otherwise: its finest level is tiled automatically where the
untiled one would not fit, `jaxstyle.gatys.tiling`), and records the child's peak RSS
(ru_maxrss), its wall time and the tile size of every level. The figure is the whole
picture beside a --crop px crop at 1:1 whose centre (--crop_centre) sits on a corner of
the 1024 px tiles, where a seam would show if the tiles were not exact.

Expect: the layout of the coarse levels with brush strokes at the painting's scale (the
style image is taken at the output size), no seam in the crop, and a peak RSS at or
under the estimate the run logs.
"""

import json
import pathlib
import resource
import subprocess
import sys
import time

from absl import app, flags, logging
import numpy as np

from experiments import common
from jaxstyle import images

flags.DEFINE_string("content", common.shared_image("tubingen.jpg"), "Content photo.")
flags.DEFINE_string("style", common.shared_image("starry_night.jpg"), "Style image.")
flags.DEFINE_integer("image_size", 4096, "Longer side of the output, px.")
flags.DEFINE_integer("scales", 4, "Coarse-to-fine levels.", lower_bound=1)
flags.DEFINE_list("scale_steps", ["100", "30", "12", "10"], "L-BFGS steps per level, "
                  "coarsest first.")
flags.DEFINE_integer("tile_size", None, "The command's --tile_size (None: auto).")
flags.DEFINE_string("weights", None, "The command's --weights (None: the default VGG-19).")
flags.DEFINE_string("image", None, "Make the figure from this finished output instead of "
                    "running (with --run_json).")
flags.DEFINE_string("run_json", None, "The finished run's --metrics_json.")
flags.DEFINE_float("peak_rss_gib", None, "The finished run's peak RSS, GiB, if it was "
                   "measured (e.g. by GNU time's maximum resident set size).")
flags.DEFINE_integer("crop", 512, "Side of the 1:1 crop, px.")
flags.DEFINE_list("crop_centre", ["3072", "1024"], "x, y of the crop's centre, px.")
flags.DEFINE_string("output_dir", "experiments/results", "Where the figure and JSON go.")
FLAGS = flags.FLAGS


def _run(output: pathlib.Path, run_json: pathlib.Path) -> dict:
  """The jaxstyle command in a child process: its wall seconds and peak RSS."""
  command = [sys.executable, "-c", "from jaxstyle.cli.stylize import run; run()",
             f"--content={FLAGS.content}", f"--style={FLAGS.style}",
             f"--image_size={FLAGS.image_size}", f"--scales={FLAGS.scales}",
             f"--scale_steps={','.join(FLAGS.scale_steps)}", "--log_every=1",
             f"--output={output}", f"--metrics_json={run_json}"]
  command += [f"--{name}={FLAGS[name].value}" for name in ("tile_size", "weights")
              if FLAGS[name].value is not None]
  logging.info("running %s", " ".join(command[3:]))
  t0 = time.time()
  done = subprocess.run(command, check=False)
  if done.returncode:
    raise common.UserError(f"the jaxstyle run failed (exit status {done.returncode})")
  return {"command": ["jaxstyle", *command[3:]], "seconds": time.time() - t0,
          "peak_rss_gib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20}


def run():
  out = pathlib.Path(FLAGS.output_dir)
  started = time.time()
  if FLAGS.image:
    if not FLAGS.run_json:
      raise common.UserError("--image needs --run_json (the run's --metrics_json)")
    output, run_json = pathlib.Path(FLAGS.image), pathlib.Path(FLAGS.run_json)
    measured = {} if FLAGS.peak_rss_gib is None else {"peak_rss_gib": FLAGS.peak_rss_gib}
  else:
    output = out / "large_output_full.png"
    run_json = out / "large_output_run.json"
    measured = _run(output, run_json)
  record = json.loads(run_json.read_text())
  image = images.load_image(output)
  c = min(FLAGS.crop, *image.shape[:2])
  x, y = (int(v) for v in FLAGS.crop_centre)
  top = int(np.clip(y - c // 2, 0, image.shape[0] - c))
  left = int(np.clip(x - c // 2, 0, image.shape[1] - c))
  height, width = image.shape[:2]
  levels = record["run"]["scales"]
  tiles = ", ".join(f"{lvl['width']} px " + (f"in {lvl['tile_size']} px tiles"
                                               if lvl["tile_size"] else "untiled")
                    for lvl in levels)
  whole = images.resize(image, c, side="shorter")
  peak = f", peak {measured['peak_rss_gib']:.1f} GiB" if measured else ""
  common.write_figure("large_output", [whole, image[top:top + c, left:left + c]], [
      f"{width}x{height}, {record['wall_seconds'] / 60:.0f} min{peak}",
      f"a {c} px crop at 1:1 across a tile corner"], started, {
          "image": str(output), "shape": [height, width], "crop": [top, left, c],
          "levels": levels, "tiles": tiles, "wall_seconds": record["wall_seconds"],
          "final_loss": record["history"]["total"][-1], **measured}, columns=2)
  logging.info("%dx%d: %s; %.1f min", width, height, tiles, record["wall_seconds"] / 60)


if __name__ == "__main__":
  app.run(common.main_wrapper(run))
