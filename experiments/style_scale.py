r"""Style scale: the painting resized before its Gram matrices are taken.

  python -m experiments.style_scale                  # 256 px, 200 steps: about 6 min on 2 CPU cores
  python -m experiments.style_scale --image_size=512 --num_steps=1000   # GPU/TPU

--style_scale s makes the style image's longer side s times the output's; the seeds'
10 %, 30 % and 60 %, and 100 %. The paper's network and settings, alpha/beta = --ratio.
256 px so that the 10 % style (26 x 20 px) still reaches conv5_1 (stride 16).

Expect: the smaller the style image, the smaller its strokes and swirls in the output
(each VGG unit then sees more of the painting); at 10 % the texture is a fine grain.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("scales", ["0.1", "0.3", "0.6", "1.0"], "Style scales.")


def run():
  rec, content, style = common.start("style_scale")
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "style")
  for scale in map(float, common.FLAGS.scales):
    rec.stylize(f"style scale {scale:.0%}", content, style, style_scale=scale,
                **common.paper())
  rec.write(columns=len(common.FLAGS.scales) + 1)


if __name__ == "__main__":
  common.define_flags(image_size=256, ratio=1e-4)
  app.run(common.main_wrapper(run))
