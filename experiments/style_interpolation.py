r"""Interpolating between two paintings with style blend weights summing to 1.

  python -m experiments.style_interpolation          # 128 px, 200 steps: about 3 min on 2 CPU cores
  python -m experiments.style_interpolation --image_size=512 --num_steps=1000   # GPU/TPU

The style loss is a weighted sum of each painting's Gram loss (weights w and 1 - w);
five steps from all The Starry Night to all The Scream, on the Neckarfront. The paper's
network and settings, alpha/beta = --ratio (1e-4: strongly stylized at this size).

Expect: the left end has the Starry Night's blue swirls, the right end the Scream's
orange sky and wavy bands, and the middle images mix the two palettes and textures.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_string("style2", common.shared_image("the_scream.jpg"), "The second painting.")
flags.DEFINE_integer("steps", 5, "Interpolation steps (including both ends).", lower_bound=2)


def run():
  rec, content, style = common.start("style_interpolation")
  style2 = common.load(common.FLAGS.style2)
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "style A")
  n = common.FLAGS.steps
  for i in range(n):
    w = 1.0 - i / (n - 1)
    rec.stylize(f"{w:.2f} A + {1 - w:.2f} B", content, [style, style2],
                style_blend_weights=[w, 1.0 - w], **common.paper())
  rec.add_image(common.images.resize_to(style2, *content.shape[:2]), "style B")
  rec.write(columns=n + 2)


if __name__ == "__main__":
  common.define_flags(ratio=1e-4)
  app.run(common.main_wrapper(run))
