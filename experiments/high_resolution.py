r"""High resolution, coarse to fine: 1024 and 2048 px on a 24 GB CPU machine.

  python -m experiments.high_resolution              # 1024 and 2048 px: about 40 min on 2 CPU cores
  python -m experiments.high_resolution --sizes=1024 --scale_steps=300,100,50   # more steps

(4096x3072 in tiles, the default look: experiments/large_output.py.)

--scales=3 optimizes at a quarter of the size first, upsamples the result and refines
it at half and at the full size (--scale_steps each). Most of the work happens where it
is cheap; the full size only sharpens the detail. Each size runs in its own process so
that its peak memory (ru_maxrss) is its own; both go to high_resolution.json with the
time of every scale (and its tile size: None where it ran untiled). The paper's network
and settings, alpha/beta = --ratio.

Expect: the 2048 px image has the layout of the small one with brush strokes at the
scale of the painting's (the style image is taken at the full output size) and fine
detail in a 1:1 crop; 2048 px fits in memory here (see the JSON) and takes most of
the time.
"""

import json
import os
import pathlib
import resource
import subprocess
import sys
import time

from absl import app, flags, logging
import numpy as np

from experiments import common

flags.DEFINE_list("sizes", ["1024", "2048"], "Output sizes (longer side), px.")
flags.DEFINE_integer("scales", 3, "Coarse-to-fine levels.", lower_bound=1)
flags.DEFINE_list("scale_steps", ["150", "40", "10"], "L-BFGS steps per scale, coarsest "
                  "first.")
flags.DEFINE_integer("tile_size", None, "Tiles of this many px (None: auto, tiles only "
                     "where the untiled level would not fit; 0: never).")
flags.DEFINE_integer("child", 0, "Internal: run one size in this process.")
flags.DEFINE_integer("crop", 256, "Side of the 1:1 detail crop in the figure, px.")


def run_child(size: int) -> None:
  """One size in this process; writes OUTPUT_DIR/high_resolution_SIZE.{png,json}."""
  weights = common.load_weights()
  content = common.load(common.FLAGS.content, size)
  style = common.load(common.FLAGS.style, size)
  t0 = time.time()
  result = common.jaxstyle.stylize(
      content, style, weights=weights, scales=common.FLAGS.scales, init="noise",
      scale_steps=[int(s) for s in common.FLAGS.scale_steps], log_every=common.FLAGS.log_every,
      tile_size=common.FLAGS.tile_size, **common.paper())
  seconds = time.time() - t0
  out = pathlib.Path(common.FLAGS.output_dir)
  out.mkdir(parents=True, exist_ok=True)
  common.images.save_image(result.images[0], out / f"high_resolution_{size}.jpg")
  ends = np.cumsum([0] + [lvl["steps"] for lvl in result.run["scales"]])
  times = result.history["time"]
  per_scale = [dict(lvl, seconds=float(times[b] - times[a]))
               for lvl, a, b in zip(result.run["scales"], ends[:-1], ends[1:])]
  record = {"size": size, "height": int(content.shape[0]), "width": int(content.shape[1]),
            "seconds": seconds, "scales": per_scale,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "final_loss": float(result.history["total"][-1][0]),
            "history": {k: np.asarray(v).tolist() for k, v in result.history.items()}}
  (out / f"high_resolution_{size}.json").write_text(json.dumps(record, indent=1))


def run():
  if common.FLAGS.child:
    run_child(common.FLAGS.child)
    return
  rec = common.Recorder("high_resolution", common.load_weights())
  out = pathlib.Path(common.FLAGS.output_dir)
  sizes = [int(s) for s in common.FLAGS.sizes]
  records = []
  for size in sizes:
    args = [a for a in sys.argv[1:] if not a.startswith(("--child", "--sizes"))]
    logging.info("%d px in a child process...", size)
    done = subprocess.run([sys.executable, "-m", "experiments.high_resolution",
                           f"--child={size}", *args], check=False,
                          env=dict(os.environ))
    if done.returncode:
      raise common.UserError(f"the {size} px run failed (exit status {done.returncode})")
    record = json.loads((out / f"high_resolution_{size}.json").read_text())
    records.append(record)
    image = common.images.load_image(out / f"high_resolution_{size}.jpg")
    c = min(common.FLAGS.crop, *image.shape[:2])
    top, left = (image.shape[0] - c) // 2, (image.shape[1] - c) // 2
    rec.add_image(common.images.resize(image, 384), f"{size} px, {record['seconds'] / 60:.1f} "
                  f"min, {record['peak_rss_gib']:.1f} GiB")
    rec.add_image(image[top:top + c, left:left + c], f"{size} px: a {c} px crop at 1:1")
    logging.info("%d px: %.1f min, peak RSS %.1f GiB", size, record["seconds"] / 60,
                 record["peak_rss_gib"])
  rec.runs = [{k: v for k, v in r.items() if k != "history"} for r in records]
  rec.write(columns=2)


if __name__ == "__main__":
  common.define_flags(ratio=1e-4)
  app.run(common.main_wrapper(run))
