r"""Instance vs batch normalization in the feed-forward network (Ulyanov et al. 2016).

  python -m experiments.fast_norm          # 2 small networks x 120 steps: ~2 min on 2 CPU cores
  python -m experiments.fast_norm --widths=32,64,128 --num_residual=5 --crop_size=256 \
      --batch_size=4 --num_steps=2000     # the paper's network, on a GPU

Trains the same network twice on the same crops, once with instance norm and once
with batch norm (Johnson et al.'s original), and stylizes two test photos with each
(batch norm at test time uses its running averages). Small networks, short training:
see experiments/fast_common.py. Also writes fast_norm_losses.png.

Expect: instance norm reaches a lower style loss in the same steps and its outputs
carry the painting's colors and strokes more evenly; with batch norm each photo's
contrast leaks through more and the stylization is weaker and less consistent.
"""

from absl import app

from experiments import common, fast_common


def run():
  rec = fast_common.FastRecorder("fast_norm")
  for photo, name in zip(rec.tests, ("photo 1", "photo 2")):
    rec.add(photo, name)
  curves = {}
  for norm in ("instance", "batch"):
    model = rec.train(f"{norm} norm", fast_common.train_config(fast_common.net_config(norm=norm)))
    curves[f"{norm} norm"] = rec.runs[-1]["history"]
    for i, out in enumerate(fast_common.stylize(model, rec.tests)):
      rec.add(out, f"{norm} norm, photo {i + 1}")
  rec.write(columns=len(rec.tests))
  common.plot_curves(curves, f"{fast_common.FLAGS.output_dir}/fast_norm_losses.png",
                     title="instance vs batch norm")


if __name__ == "__main__":
  fast_common.define_flags()
  app.run(common.main_wrapper(run))
