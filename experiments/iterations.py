r"""Snapshots of one L-BFGS run at increasing step counts (100 vs 3000 iterations).

  python -m experiments.iterations                   # 128 px, 400 steps: 1.1 min on 2 CPU cores
  python -m experiments.iterations --image_size=512 --num_steps=3000   # GPU/TPU

Paper settings (normalized VGG-19, average pooling, alpha/beta = 1e-3, white noise).
Snapshots at about 1/30, 1/10, 1/4, 1/2 and all of --num_steps (3000 steps gives 100,
300, 750, 1500, 3000).

Expect: the layout and colors appear within the first tenth of the run; later steps
sharpen strokes and remove the remaining noise while the loss keeps falling slowly.
"""

from absl import app

from experiments import common


def run():
  rec, content, style = common.start("iterations")
  total = common.FLAGS.num_steps
  marks = sorted({max(1, round(total * f)) for f in (1 / 30, 1 / 10, 1 / 4, 1 / 2)})
  snapshots = {}

  def keep(step, x):
    if step in marks:
      snapshots[step] = x[0].copy()

  result = rec.stylize("snapshots", content, style, num_steps=total, callback=keep,
                       callback_every=1, add_images=False, **common.paper())
  for step in marks:
    rec.add_image(snapshots[step].clip(0, 1), f"step {step}")
  rec.add_image(result.images[0], f"step {total}")
  losses = {str(s): float(result.history["total"][s, 0]) for s in marks + [total]}
  rec.write(columns=len(marks) + 1, extra={
      "loss_at_step": losses, "seconds_at_step": {
          str(s): float(result.history["time"][s]) for s in marks + [total]}})


if __name__ == "__main__":
  common.define_flags(num_steps=400)
  app.run(common.main_wrapper(run))
