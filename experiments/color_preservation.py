r"""Color preservation: Gatys, Bethge, Hertzmann & Shechtman (2016), Figure 1 and 3.

  python -m experiments.color_preservation           # 128 px, 200 steps: about 2 min on 2 CPU cores
  python -m experiments.color_preservation --image_size=512 --num_steps=1000   # GPU/TPU

Three transfers of the same painting: plain; --preserve_color=histogram (the style
image's RGB mean and covariance matched to the photo's first); --preserve_color=luminance
(transfer on luminance, then the photo's I and Q chroma channels). The paper's network
and settings, alpha/beta = --ratio.

Expect: the plain transfer repaints the photo in the painting's palette; both
preserving methods keep the photo's colors (the sky stays the photo's sky) while the
strokes come from the painting. Luminance-only keeps them exactly; histogram matching
keeps the palette but lets some of the painting's color variation in.
"""

from absl import app

from experiments import common


def run():
  rec, content, style = common.start("color_preservation")
  rec.add_image(content, "photo")
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "style")
  for mode in (None, "histogram", "luminance"):
    rec.stylize(f"preserve_color={mode}" if mode else "plain transfer", content, style,
                preserve_color=mode, **common.paper())
  rec.write(columns=5)


if __name__ == "__main__":
  common.define_flags(ratio=1e-4)
  app.run(common.main_wrapper(run))
