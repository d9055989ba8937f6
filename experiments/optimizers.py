r"""SGD, Adagrad, Adam and L-BFGS at equal steps: images, loss vs step, loss vs time.

  python -m experiments.optimizers                   # 128 px, 200 steps: 2.8 min on 2 CPU cores
  python -m experiments.optimizers --image_size=512 --num_steps=1000   # GPU/TPU

Paper settings otherwise (normalized VGG-19, average pooling, alpha/beta = 1e-3, the
same white-noise start for all). Also writes optimizers_steps.png and
optimizers_time.png (matplotlib: pip install -e '.[experiments]').

Expect: L-BFGS reaches the lowest loss at equal steps and equal time (the reason the
paper uses it); Adam is the best first-order method; SGD and Adagrad lag far behind.
"""

import pathlib

from absl import app

from experiments import common

METHODS = ("sgd", "adagrad", "adam", "lbfgs", "lbfgs_zoom")


def run():
  rec, content, style = common.start("optimizers")
  curves = {}
  for method in METHODS:
    kwargs = common.paper()
    if method == "lbfgs_zoom":
      kwargs.update(optimizer="lbfgs", lbfgs_linesearch="zoom")
    else:
      kwargs.update(optimizer=method)
    label = "L-BFGS, zoom line search" if method == "lbfgs_zoom" else method
    result = rec.stylize(label, content, style, **kwargs)
    curves[label] = result.history
  out = pathlib.Path(common.FLAGS.output_dir)
  common.plot_curves(curves, out / "optimizers_steps.png", title="loss vs step")
  common.plot_curves(curves, out / "optimizers_time.png", x="time",
                     title="loss vs wall-clock time")
  rec.write(columns=len(METHODS), extra={
      "evaluations_note": "lbfgs: one evaluation per step; lbfgs_zoom: several"})


if __name__ == "__main__":
  common.define_flags()
  app.run(common.main_wrapper(run))
