r"""Loss curves (total, content, style vs step or time) for any run's metrics JSON.

  jaxstyle --content=... --style=... --metrics_json=run.json
  python -m experiments.loss_curves --metrics=run.json --output=run_losses.png

Also reads an experiment's JSON (one curve per run). Needs matplotlib
(pip install -e '.[experiments]'). Takes seconds.
"""

import json
import pathlib

from absl import app, flags

from experiments import common
from jaxstyle.errors import UserError

flags.DEFINE_list("metrics", None, "Metrics JSON file(s) from --metrics_json or an experiment.")
flags.DEFINE_string("output", "losses.png", "The plot.")
flags.DEFINE_enum("x", "step", ["step", "time"], "Horizontal axis.")


def run():
  if not flags.FLAGS.metrics:
    raise UserError("give --metrics=FILE.json")
  curves = {}
  for path in flags.FLAGS.metrics:
    try:
      data = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError) as e:
      raise UserError(f"cannot read {path}: {e}") from None
    if "history" in data:
      curves[pathlib.Path(path).stem] = data["history"]
    for r in data.get("runs", []):
      curves[r["label"]] = r["history"]
    if not curves:
      raise UserError(f"{path} holds no loss history")
  common.plot_curves(curves, flags.FLAGS.output, x=flags.FLAGS.x)
  print(f"wrote {flags.FLAGS.output}")


if __name__ == "__main__":
  app.run(common.main_wrapper(run))
