r"""Spatial control: two styles on two regions (Gatys et al., "Controlling Perceptual
Factors in Neural Style Transfer", CVPR 2017).

  python -m experiments.spatial_control              # 128 px, 200 steps: about 2 min on 2 CPU cores
  python -m experiments.spatial_control --image_size=512 --num_steps=1000   # GPU/TPU

A mask splits the Neckarfront at --split of its height (a soft 8 %-wide edge): the sky
above and the town below. Each region's Gram matrices are taken of its own features
only (guided Gram matrices: features times the region's mask, downsampled to each
layer's resolution) and matched to its own painting. Two runs: The Starry Night on the
sky and The Scream on the town; The Scream on the town and no style on the sky; and,
for comparison, both paintings blended everywhere. The paper's network and settings,
alpha/beta = --ratio, but starting from the photo: from white noise, a region without
style keeps noise that conv4_2 alone does not remove.

Expect: the sky takes the Starry Night's blue swirls and the town the Scream's orange
and brown bands, with a blend only near the edge; with no style on the sky it stays the
photo's sky.
"""

from absl import app, flags
import numpy as np

from experiments import common

flags.DEFINE_string("style2", common.shared_image("the_scream.jpg"), "The town's painting.")
flags.DEFINE_float("split", 0.45, "Where the sky ends, as a fraction of the height.")


def split_masks(height: int, width: int, split: float, edge: float = 0.08):
  """The sky (top) and town (bottom) masks [H, W], with a linear ramp at the edge."""
  rows = np.arange(height)[:, None] / max(height - 1, 1)
  top = np.clip((split + edge / 2 - rows) / edge, 0.0, 1.0) * np.ones((1, width))
  return top.astype(np.float32), (1.0 - top).astype(np.float32)


def run():
  rec, content, style = common.start("spatial_control")
  style2 = common.load(common.FLAGS.style2)
  sky, town = split_masks(*content.shape[:2], common.FLAGS.split)
  rec.add_image(content, "photo")
  rec.add_image(np.repeat(sky[..., None], 3, -1), "mask: sky (white)")
  rec.add_image(common.images.resize_to(style, *content.shape[:2]), "sky style")
  rec.add_image(common.images.resize_to(style2, *content.shape[:2]), "town style")
  settings = common.paper(init="content")
  rec.stylize("sky: A, town: B", content, [style, style2], style_masks=[sky, town], **settings)
  rec.stylize("sky: none, town: B", content, [style2], style_masks=[town], **settings)
  rec.stylize("no masks: A and B blended", content, [style, style2], **settings)
  rec.write(columns=4)


if __name__ == "__main__":
  common.define_flags(ratio=1e-4)
  app.run(common.main_wrapper(run))
