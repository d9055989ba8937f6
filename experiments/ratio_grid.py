r"""Style layers x alpha/beta: the paper's Figure 4.

  python -m experiments.ratio_grid                   # 96 px, 150 steps: 4.3 min on 2 CPU cores
  python -m experiments.ratio_grid --image_size=512 --num_steps=1000   # GPU/TPU

Rows: style matched on conv1_1 / conv1_1..conv2_1 / ... / conv1_1..conv5_1. Columns:
alpha/beta = 1e-5, 1e-4, 1e-3, 1e-2 (beta fixed, alpha varies). Normalized VGG-19,
average pooling, content conv4_2, white-noise start.

Expect: left columns are mostly texture, right columns mostly the photo; rows further
down carry the style at larger scales and give smoother, more painting-like images.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("ratios", ["1e-5", "1e-4", "1e-3", "1e-2"], "alpha/beta values (columns).")
LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def run():
  rec, content, style = common.start("ratio_grid")
  ratios = [float(r) for r in common.FLAGS.ratios]
  for i in range(1, len(LAYERS) + 1):  # A row: one alpha sweep, one compiled program.
    rec.stylize([f"..{LAYERS[i - 1]} a/b={ratio:g}" for ratio in ratios], content, style,
                style_layers=list(LAYERS[:i]), pooling="avg",
                content_weight=tuple(ratio * common.STYLE_WEIGHT for ratio in ratios),
                style_weight=common.STYLE_WEIGHT)
  rec.write(columns=len(ratios))


if __name__ == "__main__":
  common.define_flags(image_size=96, num_steps=150)
  app.run(common.main_wrapper(run))
