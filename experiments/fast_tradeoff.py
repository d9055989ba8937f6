r"""The content/style trade-off of a trained network: beta (style weight) at fixed alpha.

  python -m experiments.fast_tradeoff      # 3 small networks x 120 steps: ~2 min on 2 CPU cores

Trains three networks with beta = --style_weight times 0.1, 1 and 10 (alpha = 1) and
stylizes two test photos with each. Small networks, short training: see fast_common.py.

Expect: at 0.1x the photo stays recognizable with the painting's colors; at 10x the
painting's texture (for The Starry Night, the swirls and dark blots) takes over and
the photo's layout fades; the final content loss rises and the style loss falls
with beta.
"""

from absl import app

from experiments import common, fast_common

FACTORS = (0.1, 1.0, 10.0)


def run():
  rec = fast_common.FastRecorder("fast_tradeoff")
  for factor in FACTORS:
    beta = factor * fast_common.FLAGS.style_weight
    model = rec.train(f"beta = {beta:.2g}", fast_common.train_config(style_weight=beta))
    for i, out in enumerate(fast_common.stylize(model, rec.tests)):
      rec.add(out, f"beta = {beta:.2g} ({factor:g}x), photo {i + 1}")
  rec.write(columns=len(rec.tests))


if __name__ == "__main__":
  fast_common.define_flags()
  app.run(common.main_wrapper(run))
