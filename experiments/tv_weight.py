r"""Total variation: what --tv_weight does to the picture.

  python -m experiments.tv_weight                    # 128 px, 200 steps: about 3 min on 2 CPU cores
  python -m experiments.tv_weight --image_size=512 --num_steps=1000   # GPU/TPU

Not in Gatys et al. (2016): the smoothness prior sum of squared neighbour differences
(Mahendran & Vedaldi 2015) that later implementations add. The paper's network and
settings, alpha/beta = --ratio, with tv_weight 0 (the paper) and three larger values
(relative to beta = 1000, as multiples of the content weight).

Expect: 0 keeps the high-frequency grain of pixel optimization; growing weights smooth
it away, and too much blurs the strokes into flat patches.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("tv_weights", ["0", "10", "100", "1000"], "Total-variation weights.")


def run():
  rec, content, style = common.start("tv_weight")
  for tv in map(float, common.FLAGS.tv_weights):
    result = rec.stylize(f"tv_weight={tv:g}", content, style, tv_weight=tv, **common.paper())
    rec.runs[-1]["final_tv"] = float(result.history["tv"][-1][0])
  rec.write(columns=len(common.FLAGS.tv_weights))


if __name__ == "__main__":
  common.define_flags(ratio=1e-4)
  app.run(common.main_wrapper(run))
