r"""The Neckarfront in the style of four paintings: the paper's Figure 3.

  python -m experiments.artworks                     # 128 px, 200 steps: 2.2 min on 2 CPU cores
  python -m experiments.artworks --image_size=512 --num_steps=1000   # GPU/TPU
  python -m experiments.artworks --preset=gatys2016_code --num_steps=100   # the authors' code

The paper's settings: normalized VGG-19, average pooling, content conv4_2, style
conv1_1..conv5_1 with w_l = 1/5, alpha/beta = 1e-3, white-noise start, L-BFGS.
--preset runs a whole preset instead (`jaxstyle.preset`, e.g. gatys2016_code: the
authors' released code, 512 px on the shorter side, from the photo, with its own
weights file); --num_steps, --image_size (on the preset's side) and --weights given
explicitly still apply.

Expect: each result keeps the houses, the river and the tower of the photo and takes
the colors and brush strokes of the painting (The Shipwreck of the Minotaur, The Starry
Night, The Scream, Femme nue assise).
"""

from absl import app, flags

import jaxstyle
from experiments import common
from jaxstyle import features

flags.DEFINE_list("styles", [common.shared_image(n) for n in (
    "shipwreck.jpg", "starry_night.jpg", "the_scream.jpg", "seated-nude.jpg")],
                  "Paintings, comma-separated.")
flags.DEFINE_string("preset", None, "Run this preset's config (jaxstyle.preset) instead of "
                    "the paper's written formulas.")


def run():
  if common.FLAGS.preset:
    _run_preset(jaxstyle.preset(common.FLAGS.preset))
    return
  weights = common.load_weights()
  content = common.load(common.FLAGS.content)
  rec = common.Recorder("artworks", weights)
  rec.add_image(content, "photo")
  for path in common.FLAGS.styles:
    style = common.load(path)
    name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    rec.add_image(common.images.resize_to(style, *content.shape[:2]), name)
    rec.stylize(f"{name}, a/b={common.FLAGS.ratio:g}", content, style, **common.paper())
  rec.write(columns=3)


def _run_preset(config: jaxstyle.StylizeConfig):
  """Figure 3 with a whole preset: its sizes, start, steps and weights file, but the
  flags given explicitly."""
  for name in ("num_steps", "image_size"):
    if common.FLAGS[name].present:
      config = config.replace(**{name: common.FLAGS[name].value})
  sizes = config.images
  weights = (common.load_weights() if common.FLAGS["weights"].present else
             features.load_weights("vgg19", path=config.objective.weights_file))
  rec = common.Recorder("artworks", weights)
  content = jaxstyle.load_image(common.FLAGS.content, sizes.image_size, sizes.image_side)
  rec.add_image(content, "photo")
  for path in common.FLAGS.styles:
    style = jaxstyle.load_image(path, sizes.image_size, sizes.image_side)
    name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    rec.add_image(common.images.resize_to(style, *content.shape[:2]), name)
    rec.stylize(f"{name}, {common.FLAGS.preset}", content, style, config=config)
  rec.write(columns=3)


if __name__ == "__main__":
  common.define_flags(style=None)
  app.run(common.main_wrapper(run))
