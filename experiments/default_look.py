r"""The default picture at three sizes, beside the paper's settings (the README figure).

  python -m experiments.default_look                       # 256, 512, 1024 px: ~40 min on 2 CPU cores
  python -m experiments.default_look --sizes=256,512 --paper_sizes=256   # ~8 min

What a new user gets from `jaxstyle --content=tubingen.jpg --style=starry_night.jpg
--image_size=SIZE --num_steps=300` (jaxstyle's defaults: the mean content loss, so
alpha/beta means the same at every size; the content photo as the start; coarse-to-fine
from about 256 px, i.e. 300 steps at the coarsest scale and half as many at each finer
one) at each --sizes, and what `--preset=gatys2016` gives (the paper: normalized VGG-19,
average pooling, the summed content loss of Eq. 1 with alpha/beta = 1e-3, white noise,
one scale, 300 steps) at each --paper_sizes. Writes --figure (a JPEG: the default on the
first row, the paper's preset below) and experiments/results/default_look.json.

Expect: the default is clearly stylized at every size (The Starry Night's swirls and
palette over the town, the houses and the river recognizable) and its look barely
changes with the size; the paper's preset stylizes strongly at 256 px but at 512 px
leaves the photo nearly untouched under fine ripples with white-noise speckle, because
its summed content term grows with the pixel count and its style term does not.
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags, logging

from experiments import common
from jaxstyle import features, images
from jaxstyle import weights as weights_lib
from jaxstyle.gatys import presets, transfer

flags.DEFINE_list("sizes", ["256", "512", "1024"], "Sizes of the default, px (longer side).")
flags.DEFINE_list("paper_sizes", ["256", "512"], "Sizes of --preset=gatys2016, px.")
flags.DEFINE_integer("steps", 300, "--num_steps of both (the default spreads them over its "
                     "scales: all at the coarsest, half as many at each finer one).")
flags.DEFINE_string("figure", "docs/default_look.jpg", "The figure (JPEG).")
FLAGS = flags.FLAGS


def paper_settings() -> dict:
  """--preset=gatys2016 as `stylize` arguments (its changes from the defaults, minus the
  weights file and the size, which this experiment sets)."""
  preset = presets.preset("gatys2016").changes()
  for name in ("weights_file", "image_size"):
    preset.pop(name)
  return preset


def run():
  default_weights = features.load_weights("vgg19", log=logging.info)
  normalized = weights_lib.load(weights_lib.normalized_path())
  started = time.time()
  rows, runs = {"default": [], "gatys2016": []}, []
  for mode, sizes, weights, settings in (
      ("default", FLAGS.sizes, default_weights, {}),
      ("gatys2016", FLAGS.paper_sizes, normalized, paper_settings())):
    for size in sorted(int(s) for s in sizes):
      content, style = common.load(FLAGS.content, size), common.load(FLAGS.style, size)
      t0 = time.perf_counter()
      result = transfer.stylize(content, style, weights=weights, num_steps=FLAGS.steps,
                                log_every=FLAGS.log_every or 50, **settings)
      seconds = time.perf_counter() - t0
      final = {k: float(np.asarray(result.history[k])[-1, 0])
               for k in ("total", "content", "style")}
      rows[mode].append((result.images[0], f"{mode}, {content.shape[1]}x{content.shape[0]}"))
      runs.append({"mode": mode, "size": size, "image": [int(content.shape[1]),
                                                          int(content.shape[0])],
                   "seconds": seconds, "steps": result.steps, "final": final,
                   "scales": result.run["scales"], "init": result.run["init"],
                   "content_normalization": result.run["content_normalization"],
                   "content_weight": result.run["content_weight"],
                   "style_weight": result.run["style_weight"]})
      logging.info("%s %d px: %.0f s, %s", mode, size, seconds, final)
  # One row per mode, each picture at a common display height.
  height = 256
  tiles, labels = [], []
  for mode in rows:
    for image, label in rows[mode]:
      tiles.append(images.resize_to(image, height, round(image.shape[1] * height
                                                           / image.shape[0])))
      labels.append(label)
  columns = max(len(rows["default"]), len(rows["gatys2016"]))
  ordered, ordered_labels = [], []
  for mode in rows:  # Pad the shorter row so each mode has its own row.
    n = len(rows[mode])
    start = 0 if mode == "default" else len(rows["default"])
    ordered += tiles[start:start + n] + [np.ones_like(tiles[0])] * (columns - n)
    ordered_labels += labels[start:start + n] + [""] * (columns - n)
  common.write_figure("default_look", ordered, ordered_labels, started, {
      "content": FLAGS.content, "style": FLAGS.style, "steps": FLAGS.steps,
      "paper_settings": paper_settings(), "runs": runs}, columns=columns, figure=FLAGS.figure)

if __name__ == "__main__":
  common.define_flags()
  app.run(common.main_wrapper(run))
