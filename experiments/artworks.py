r"""The Neckarfront in the style of four paintings: the paper's Figure 3.

  python -m experiments.artworks                     # 128 px, 200 steps: 2.2 min on 2 CPU cores
  python -m experiments.artworks --image_size=512 --num_steps=1000   # GPU/TPU

The paper's settings: normalized VGG-19, average pooling, content conv4_2, style
conv1_1..conv5_1 with w_l = 1/5, alpha/beta = 1e-3, white-noise start, L-BFGS.

Expect: each result keeps the houses, the river and the tower of the photo and takes
the colors and brush strokes of the painting (The Shipwreck of the Minotaur, The Starry
Night, The Scream, Femme nue assise).
"""

from absl import app, flags

from experiments import common

flags.DEFINE_list("styles", [common.shared_image(n) for n in (
    "shipwreck.jpg", "starry_night.jpg", "the_scream.jpg", "seated-nude.jpg")],
                  "Paintings, comma-separated.")


def run():
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


if __name__ == "__main__":
  common.define_flags(style=None)
  app.run(common.main_wrapper(run))
