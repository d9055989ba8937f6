r"""Training loss curves of the committed feed-forward models (or any training runs).

  python -m experiments.fast_loss_curves   # seconds: reads models/*_losses.json
  python -m experiments.fast_loss_curves --runs=runs/a/losses.json,runs/b/losses.json

Plots total, content and style loss per step (a 10-step moving average over the noisy
per-batch values) of each run's losses.json (written by `jaxstyle-train-fast`
with every checkpoint) to experiments/results/fast_loss_curves.png.

Expect: the style loss falls by one to two orders of magnitude in the first few
hundred steps while the content loss first rises (the network leaves the identity-
like start) and then levels off.
"""

import glob
import json
import pathlib

import numpy as np
from absl import app, flags

from experiments import common
from jaxstyle.errors import UserError

flags.DEFINE_list("runs", None, "losses.json files (default: models/*_losses.json).")
flags.DEFINE_integer("smooth", 10, "Moving-average window, steps.", lower_bound=1)
flags.DEFINE_string("output", "experiments/results/fast_loss_curves.png", "The plot.")


def run():
  paths = flags.FLAGS.runs or sorted(glob.glob("models/*_losses.json"))
  if not paths:
    raise UserError("no losses.json given and none in models/")
  curves = {}
  k = flags.FLAGS.smooth
  for path in paths:
    try:
      history = json.loads(pathlib.Path(path).read_text())["history"]
    except (OSError, ValueError, KeyError) as e:
      raise UserError(f"cannot read a loss history from {path}: {e}") from None
    smooth = {key: np.convolve(history[key], np.ones(k) / k, mode="valid").tolist()
              for key in ("total", "content", "style")}
    curves[pathlib.Path(path).name.replace("_losses.json", "")] = smooth
  common.plot_curves(curves, flags.FLAGS.output, title="feed-forward training")
  print(f"wrote {flags.FLAGS.output}")


if __name__ == "__main__":
  app.run(common.main_wrapper(run))
