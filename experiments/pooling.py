r"""Max vs average pooling in VGG-19 (the paper prefers average pooling).

  python -m experiments.pooling                      # 128 px, 200 steps: 1.1 min on 2 CPU cores
  python -m experiments.pooling --image_size=512 --num_steps=1000   # GPU/TPU

Paper settings otherwise (normalized VGG-19, alpha/beta = 1e-3, white noise).

Expect: average pooling gives smoother gradients and "slightly more appealing results"
(Gatys et al.); max pooling gives sharper, noisier texture.
"""

from absl import app

from experiments import common


def run():
  rec, content, style = common.start("pooling")
  for pooling in ("max", "avg"):
    rec.stylize(f"{pooling} pooling", content, style, **common.paper(pooling=pooling))
  rec.write()


if __name__ == "__main__":
  common.define_flags()
  app.run(common.main_wrapper(run))
