r"""Style rotation: the painting turned before its Gram matrices are taken.

  python -m experiments.style_rotation               # 128 px, 200 steps: about 3 min on 2 CPU cores
  python -m experiments.style_rotation --image_size=512 --num_steps=1000   # GPU/TPU

The seeds' 30, 60 and 90 degrees, and 0. A rotated image is cropped to the largest
rectangle without empty corners. The Scream, whose strokes have a clear direction; the
paper's network and settings, alpha/beta = --ratio.

Expect: the Gram matrices are not rotation invariant, so the strokes in the output turn
with the painting: the Scream's wavy bands run at the painting's angle plus the rotation.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("rotations", ["0", "30", "60", "90"], "Degrees, counter-clockwise.")


def run():
  rec, content, style = common.start("style_rotation")
  for degrees in map(float, common.FLAGS.rotations):
    turned = common.images.rotate_image(style, degrees)
    rec.add_image(common.images.resize_to(turned, *content.shape[:2]), f"style {degrees:g} deg")
  for degrees in map(float, common.FLAGS.rotations):
    rec.stylize(f"rotated {degrees:g} deg", content, style, style_rotation=degrees,
                **common.paper())
  rec.write(columns=len(common.FLAGS.rotations))


if __name__ == "__main__":
  common.define_flags(style="the_scream.jpg", ratio=1e-4)
  app.run(common.main_wrapper(run))
