r"""Content and style reconstructions layer by layer: the paper's Figure 1.

  python -m experiments.reconstructions          # 128 px, 200 steps: 2.6 min on 2 CPU cores
  python -m experiments.reconstructions --image_size=512 --num_steps=1000   # GPU/TPU
  python -m experiments.reconstructions --image_size=512 --scales=2 --num_steps=250 \
      --finer_steps=250      # experiments.all's: 250 steps at 256 px, then 250 at 512

From white noise, matches (top row) only the content features of conv1_2, conv2_2,
conv3_2, conv4_2 or conv5_2 (the CVPR paper's Figure 1; its 2015 preprint used the
conv*_1 layers), and (bottom row) only the Gram matrices of the nested subsets
conv1_1 / conv1_1..conv2_1 / ... / conv1_1..conv5_1, with the paper's normalized
VGG-19 and average pooling. With --scales > 1 the last style reconstruction also runs
at one scale with as many steps in all, beside.

Expect: content reconstructions from the lower layers are nearly the photo; from the
higher layers the layout survives but the exact pixels do not. Style reconstructions
grow in scale and structure as layers are added, from colored noise to the painting's
strokes.
"""

from absl import app

from experiments import common

CONTENT_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def run():
  rec, content, style = common.start("reconstructions")
  note = common.schedule_note()
  for layer in CONTENT_LAYERS:
    rec.stylize(f"content {layer}{note}", content, style, content_layers=[layer],
                style_layers=[], pooling="avg")
  for i in range(1, len(STYLE_LAYERS) + 1):
    label = (f"style {STYLE_LAYERS[0]}..{STYLE_LAYERS[i - 1]}" if i > 1
             else f"style {STYLE_LAYERS[0]}")
    settings = dict(content_layers=[], style_layers=list(STYLE_LAYERS[:i]), pooling="avg")
    rec.stylize(f"{label}{note}", style, style, **settings)
  rec.one_scale_too(label, style, style, **settings)
  rec.write(columns=len(STYLE_LAYERS))


if __name__ == "__main__":
  common.define_flags(coarse_to_fine=True)
  app.run(common.main_wrapper(run))
