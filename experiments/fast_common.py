"""What the feed-forward (Johnson et al. 2016) experiments share: flags, short trainings,
test photos and the figure/JSON writer.

The figures train small networks briefly so that each runs in minutes on 2 CPU cores:
by default widths 16/32/64 with 3 residual blocks (the paper: 32/64/128 and 5), 96 px
crops in batches of 2 (the paper: 256 px, batch 4), 120 Adam steps at learning rate
3e-3 (the paper: 40k at 1e-3); alpha = 1, beta = 5 (Johnson's), TV 1e5 as the committed
models.
The comparisons hold at those settings; the pictures are rougher than a full training.
"""

from __future__ import annotations

import pathlib
import tempfile
import time
from typing import Any, Sequence

import jax
import numpy as np
from absl import flags, logging

from experiments import common
from jaxstyle import images
from jaxstyle.johnson import models, training as fast_train
from jaxstyle.nets import johnson as transformer
from jaxstyle import weights as weights_lib

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
FLAGS = flags.FLAGS


def define_flags(*, num_steps: int = 120, style: str = "starry_night.jpg") -> None:
  flags.DEFINE_string("style", str(SHARED / "images" / style), "Style image.")
  flags.DEFINE_integer("style_size", 192, "Longer side of the style image, px.")
  flags.DEFINE_string("dataset_dir", str(SHARED / "datasets" / "bsds500"),
                      "Training photos (the paper: MS-COCO).")
  flags.DEFINE_list("test_images", [str(SHARED / "images" / "tubingen.jpg"),
                                    str(SHARED / "images" / "golden_gate.jpg")],
                    "Photos stylized for the figure (not used in training).")
  flags.DEFINE_integer("test_size", 160, "Longer side of the test photos, px.")
  flags.DEFINE_integer("num_steps", num_steps, "Training steps per network.", lower_bound=1)
  flags.DEFINE_integer("crop_size", 96, "Training crop, px.", lower_bound=16)
  flags.DEFINE_integer("batch_size", 2, "Training batch.", lower_bound=1)
  flags.DEFINE_list("widths", ["16", "32", "64"], "Network widths (the paper: 32,64,128).")
  flags.DEFINE_integer("num_residual", 3, "Residual blocks (the paper: 5).", lower_bound=0)
  flags.DEFINE_float("content_weight", 1.0, "alpha.")
  flags.DEFINE_float("style_weight", 5.0, "beta.")
  flags.DEFINE_float("tv_weight", 1e5, "Total-variation weight.")
  flags.DEFINE_float("learning_rate", 3e-3, "Adam's learning rate (the paper: 1e-3 over "
                     "40k steps; higher for these short runs).")
  flags.DEFINE_string("output_dir", "experiments/results", "Where the figure and JSON go.")


def net_config(**overrides) -> transformer.ImageTransformConfig:
  settings = dict(widths=tuple(int(w) for w in FLAGS.widths), num_residual=FLAGS.num_residual)
  settings.update(overrides)
  return transformer.ImageTransformConfig(**settings)


def train_config(net: transformer.ImageTransformConfig | None = None,
                 **overrides) -> fast_train.TrainConfig:
  settings = dict(net=net or net_config(), content_weight=FLAGS.content_weight,
                  style_weight=FLAGS.style_weight, tv_weight=FLAGS.tv_weight,
                  learning_rate=FLAGS.learning_rate, batch_size=FLAGS.batch_size,
                  crop_size=FLAGS.crop_size)
  settings.update(overrides)
  return fast_train.TrainConfig(**settings)


def test_images() -> list[np.ndarray]:
  return [images.load_image(p, FLAGS.test_size) for p in FLAGS.test_images]


class FastRecorder:
  """Trains networks, keeps their test outputs and histories, writes NAME.png/.json."""

  def __init__(self, name: str):
    self.name = name
    self.weights = weights_lib.ensure_default()
    self.style = images.load_image(FLAGS.style, FLAGS.style_size)
    self.tests = test_images()
    self.tiles: list[np.ndarray] = []
    self.labels: list[str] = []
    self.runs: list[dict[str, Any]] = []
    self.started = time.time()

  def train(self, label: str, config: fast_train.TrainConfig) -> models.FastModel:
    with tempfile.TemporaryDirectory() as tmp:
      result = fast_train.train(config, self.style, FLAGS.dataset_dir, tmp,
                                weights=self.weights, num_steps=FLAGS.num_steps,
                                checkpoint_every=10**9, sample_every=0, log_every=20)
    model = models.FastModel(config.net, jax.device_get(result.state["variables"]))
    final = {k: float(np.mean(v[-10:])) for k, v in result.history.items() if k != "time"}
    logging.info("%s: %.0f s, final losses (mean of last 10) %s", label, result.seconds,
                 final)
    self.runs.append({"label": label, "seconds": result.seconds, "config": config.to_dict(),
                      "final_mean_last10": final, "history": result.history})
    return model

  def add(self, image: np.ndarray, label: str) -> None:
    self.tiles.append(np.asarray(image))
    self.labels.append(label)

  def write(self, *, columns: int | None = None, extra: dict | None = None) -> pathlib.Path:
    return common.write_figure(self.name, self.tiles, self.labels, self.started, {
        "flags": {k: getattr(FLAGS, k) for k in (
            "style", "style_size", "dataset_dir", "test_images", "test_size", "num_steps",
            "crop_size", "batch_size", "widths", "num_residual", "content_weight",
            "style_weight", "tv_weight", "learning_rate")},
        "runs": self.runs, **(extra or {})}, columns=columns)


def stylize(model: models.FastModel, photos: Sequence[np.ndarray]) -> list[np.ndarray]:
  from jaxstyle.johnson import stylize_fast  # pylint: disable=import-outside-toplevel
  return [stylize_fast(model, p) for p in photos]
