r"""Photorealistic style transfer, a night photo onto a day photo: the paper's Figure 7.

  python -m experiments.photorealistic               # 128 px, 200 steps: 1.6 min on 2 CPU cores
  python -m experiments.photorealistic --image_size=512 --num_steps=1000   # GPU/TPU
  python -m experiments.photorealistic --image_size=512 --scales=2 --num_steps=500 \
      --ratios=1e-2,1e-4,1e-5      # experiments.all's: 500 steps at 256 px, 500 at 512

The gatys2016_photo preset: normalized VGG-19, average pooling, alpha/beta = 1e-2,
starting from the content photo.

Also runs smaller alpha/beta (--ratios) to show where the night takes over. With
--scales > 1 the last ratio also runs at one scale with as many steps in all, beside.

Expect: the Golden Gate keeps its shape and detail but takes the night lighting of the
Hoover Tower photo (dark sky, warm lights); some of the night photo's structure bleeds
in as texture, as in the paper. With the paper's formulas taken literally the balance
depends on size: at 128 px alpha/beta = 1e-2 changes little and the night shows at
1e-3..1e-4.
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("ratios", ["1e-2", "1e-3", "1e-4"], "alpha/beta values; the paper: 1e-2.")


def run():
  rec, content, style = common.start("photorealistic")
  rec.add_image(content, "day (content)")
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "night (style)")
  ratios = [float(r) for r in common.FLAGS.ratios]
  settings = [dict(init="content", pooling="avg", content_weight=1.0, style_weight=1.0 / r)
              for r in ratios]
  for ratio, kwargs in zip(ratios, settings):
    rec.stylize(f"a/b={ratio:g}{common.schedule_note()}", content, style, **kwargs)
  rec.one_scale_too(f"a/b={ratios[-1]:g}", content, style, **settings[-1])
  rec.write(columns=3)


if __name__ == "__main__":
  common.define_flags(content="golden_gate.jpg", style="hoovertowernight.jpg",
                      coarse_to_fine=True)
  app.run(common.main_wrapper(run))
