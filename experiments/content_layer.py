r"""Content matched at conv2_2 vs conv4_2: the paper's Figure 5.

  python -m experiments.content_layer                # 128 px, 200 steps: 1.1 min on 2 CPU cores
  python -m experiments.content_layer --image_size=512 --num_steps=1000   # GPU/TPU

Paper settings otherwise (normalized VGG-19, average pooling, style conv1_1..conv5_1).

Expect: with conv2_2 the photo's fine detail survives and the style sits on top as a
texture; with conv4_2 the style reshapes the content, which keeps only its layout.
"""

from absl import app

from experiments import common


def run():
  rec, content, style = common.start("content_layer")
  for layer in ("conv2_2", "conv4_2"):
    rec.stylize(f"content {layer}", content, style, content_layers=[layer],
                **common.paper())
  rec.write()


if __name__ == "__main__":
  common.define_flags(style="shipwreck.jpg")
  app.run(common.main_wrapper(run))
