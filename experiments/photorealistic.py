r"""Photorealistic style transfer, a night photo onto a day photo: the paper's Figure 7.

  python -m experiments.photorealistic               # 128 px, 200 steps: ~1 min on 2 CPU cores
  python -m experiments.photorealistic --image_size=512 --num_steps=1000   # GPU/TPU

The gatys2016_photo preset: normalized VGG-19, average pooling, alpha/beta = 1e-2,
starting from the content photo.

Expect: the Golden Gate keeps its shape and detail but takes the night lighting of the
Hoover Tower photo (dark sky, warm lights); some of the night photo's structure bleeds
in as texture, as in the paper.
"""

from absl import app

from experiments import common


def run():
  weights = common.load_weights()
  content = common.load(common.FLAGS.content)
  style = common.load(common.FLAGS.style)
  rec = common.Recorder("photorealistic", weights)
  rec.add_image(content, "day (content)")
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "night (style)")
  rec.stylize("a/b=1e-2, from content", content, style, init="content", pooling="avg",
              content_weight=1.0, style_weight=1e2)
  rec.write(columns=3)


if __name__ == "__main__":
  common.define_flags(content="golden_gate.jpg", style="hoovertowernight.jpg")
  app.run(common.main_wrapper(run))
