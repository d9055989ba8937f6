r"""Starting from the content, the style, or white noise: the paper's Figure 6.

  python -m experiments.initialization               # 128 px, 200 steps: 2.6 min on 2 CPU cores
  python -m experiments.initialization --image_size=512 --num_steps=1000   # GPU/TPU

Paper settings (normalized VGG-19, average pooling, alpha/beta = --ratio, default 1e-3). The four
white-noise seeds run as one vmapped program.

Expect: every start reaches a similar loss; from the content or the style the result is
biased towards that image's spatial layout; the noise seeds give different images of the
same quality and style.
"""

from absl import app

from experiments import common


def run():
  rec, content, style = common.start("initialization")
  rec.stylize("from content", content, style, init="content", **common.paper())
  rec.stylize("from style", content, style, init="style", **common.paper())
  rec.stylize("from noise", content, style, init="noise", seed=0, num_seeds=4, **common.paper())
  rec.write(columns=3)


if __name__ == "__main__":
  common.define_flags(style="the_scream.jpg")
  app.run(common.main_wrapper(run))
