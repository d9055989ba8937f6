r"""Style matched on conv1_1 alone up to conv1_1..conv5_1, with the content.

  python -m experiments.style_layers                 # 128 px, 200 steps: 2.0 min on 2 CPU cores
  python -m experiments.style_layers --image_size=512 --num_steps=1000   # GPU/TPU

Paper settings otherwise (normalized VGG-19, average pooling, alpha/beta = --ratio, default 1e-3).

Expect: with conv1_1 alone only colors and fine grain transfer; each added layer brings
larger structures of the painting, up to whole strokes and swirls with conv5_1.
"""

from absl import app

from experiments import common

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def run():
  rec, content, style = common.start("style_layers")
  for i in range(1, len(LAYERS) + 1):
    rec.stylize(f"{LAYERS[0]}..{LAYERS[i - 1]}" if i > 1 else LAYERS[0], content, style,
                style_layers=list(LAYERS[:i]), **common.paper())
  rec.write(columns=len(LAYERS))


if __name__ == "__main__":
  common.define_flags()
  app.run(common.main_wrapper(run))
