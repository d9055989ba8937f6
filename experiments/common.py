"""What every experiment shares: flags, weights, runs, figures, JSON and plots.

Experiments are absl apps run from the repository root, e.g.
`python -m experiments.reconstructions`. Each writes OUTPUT_DIR/NAME.jpg (a labelled
grid made by jaxstyle.contact_sheet, < 1 MB) and OUTPUT_DIR/NAME.json (losses and
timings); `python -m experiments.all` regenerates the paper's figures.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any, Sequence

import jax
import numpy as np
from absl import flags, logging

import jaxstyle
from jaxstyle import features, images
from jaxstyle import weights as weights_lib
from jaxstyle._atomic import atomic_path
from jaxstyle.errors import UserError

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"
FLAGS = flags.FLAGS

# The paper's style weight; alpha = --ratio * beta (the paper: alpha/beta = 1e-3).
STYLE_WEIGHT = 1e3


# The paper's formulas and schedule where an experiment does not say otherwise
# (jaxstyle's defaults are a mean content loss, the content photo as the start for one
# seed, and coarse-to-fine from 256 px; the figures reproduce the paper).
PAPER_DEFAULTS = dict(content_normalization="sum", init="noise", scales=1)


def paper(**overrides) -> dict:
  """The paper's settings (the gatys2016 preset) with alpha/beta = --ratio."""
  settings = dict(pooling="avg", content_weight=FLAGS.ratio * STYLE_WEIGHT,
                  style_weight=STYLE_WEIGHT, content_normalization="sum")
  settings.update(overrides)
  return settings


def shared_image(name: str) -> str:
  return str(SHARED / name)


# Set by define_flags(coarse_to_fine=True): the experiment has --scales and --finer_steps.
_COARSE_TO_FINE = False


def define_flags(*, content: str | None = "tubingen.jpg", style: str | None = "starry_night.jpg",
                 image_size: int = 128, num_steps: int = 200, ratio: float = 1e-3,
                 coarse_to_fine: bool = False) -> None:
  """The flags every experiment has; defaults are this CPU's small size. With
  coarse_to_fine, also --scales and --finer_steps (see `schedule`)."""
  global _COARSE_TO_FINE
  _COARSE_TO_FINE = coarse_to_fine  # Every call: experiments may run one after another.
  if content is not None:
    flags.DEFINE_string("content", shared_image(content), "Content photo.")
  if style is not None:
    flags.DEFINE_string("style", shared_image(style), "Style image.")
  flags.DEFINE_integer("image_size", image_size, "Longer side, px (the paper: 512; use "
                       "512 on a GPU/TPU).", lower_bound=16)
  flags.DEFINE_integer("num_steps", num_steps, "L-BFGS steps per image (the paper: ~1000).",
                       lower_bound=1)
  flags.DEFINE_string("weights", "normalized", "'normalized' (the paper's network, made by "
                      "`python -m jaxstyle.weights normalize`), 'default', or a .npz path.")
  flags.DEFINE_string("output_dir", "experiments/results", "Where the figure and JSON go.")
  flags.DEFINE_float("ratio", ratio, "alpha/beta (the paper: 1e-3; the paper's formulas weigh "
                     "content more at larger sizes, so small CPU runs may want 1e-4).")
  flags.DEFINE_integer("log_every", 0, "Progress line every N steps of each run.",
                       lower_bound=0)
  if coarse_to_fine:
    flags.DEFINE_integer("scales", 1, "Coarse-to-fine: --num_steps at 1/2^(scales-1) of "
                         "the size, then --finer_steps at each doubling (1: the paper's "
                         "one scale).", lower_bound=1)
    flags.DEFINE_integer("finer_steps", None, "Steps at each scale after the coarsest "
                         "(default: --num_steps).", lower_bound=1)


def schedule() -> dict:
  """The stylize settings of the --scales schedule: the paper's one scale of --num_steps,
  or num_steps at the coarsest and --finer_steps at each finer scale."""
  if not _COARSE_TO_FINE or FLAGS.scales == 1:
    return dict(scales=1, num_steps=FLAGS.num_steps)
  return dict(scales=FLAGS.scales, num_steps=FLAGS.num_steps,
              finer_steps=FLAGS.finer_steps or FLAGS.num_steps)


def schedule_note() -> str:
  """A label's note of a coarse-to-fine schedule ("" for one scale)."""
  settings = schedule()
  if settings["scales"] == 1:
    return ""
  return (f", {settings['scales']} scales x "
          f"{settings['num_steps']}/{settings['finer_steps']} steps")


def total_steps(settings: dict) -> int:
  """Steps over all scales of a `schedule`."""
  return settings["num_steps"] + (settings["scales"] - 1) * settings.get("finer_steps", 0)


def load_weights() -> weights_lib.NetworkWeights:
  """--weights: "default", or what `features.load_weights` reads ("normalized", a path)."""
  if FLAGS.weights == "default":
    return weights_lib.ensure_default()
  return features.load_weights("vgg19", path=FLAGS.weights)


def load(path: str, size: int | None = None) -> np.ndarray:
  return images.load_image(path, size or FLAGS.image_size)


def start(name: str) -> tuple["Recorder", np.ndarray, np.ndarray]:
  """The usual opening: the weights, a Recorder, and the --content and --style images."""
  return Recorder(name, load_weights()), load(FLAGS.content), load(FLAGS.style)


class Recorder:
  """Collects runs (image, label, history, seconds) and writes the figure and JSON."""

  def __init__(self, name: str, weights: weights_lib.NetworkWeights):
    self.name = name
    self.weights = weights
    self.tiles: list[np.ndarray] = []
    self.labels: list[str] = []
    self.runs: list[dict[str, Any]] = []
    self.started = time.time()

  def add_image(self, image: np.ndarray, label: str) -> None:
    self.tiles.append(np.asarray(image))
    self.labels.append(label)

  def stylize(self, label: str | Sequence[str], content, style, *, add_images: bool = True,
              config: jaxstyle.StylizeConfig | None = None,
              **kwargs) -> jaxstyle.StylizeResult:
    """jaxstyle.stylize with this experiment's weights; records its losses and images.
    label: the panel's, or one per image (a weight sweep's points). config: a whole
    config (a preset) that `kwargs` override, instead of the paper's settings and the
    experiment's schedule."""
    kwargs.setdefault("log_every", FLAGS.log_every)
    if config is None:
      for name, value in {**PAPER_DEFAULTS, **schedule()}.items():
        kwargs.setdefault(name, value)
    t0 = time.time()
    result = jaxstyle.stylize(content, style, config, weights=self.weights, **kwargs)
    seconds = time.time() - t0
    if not isinstance(label, str):
      labels, label = list(label), " / ".join(label)
      if len(labels) != len(result.images):
        raise ValueError(f"{len(labels)} labels for {len(result.images)} images")
    elif len(result.images) == 1:
      labels = [label]
    else:
      labels = [f"{label} seed {s}" for s in result.seeds]
    for image, l in zip(result.images, labels):
      if add_images:
        self.add_image(image, l)
    logging.info("%s: %.1f s, final loss %s", label, seconds,
                 " ".join(f"{v:.4g}" for v in result.history["total"][-1]))
    self.runs.append({
        "label": label, "seconds": seconds, "steps": result.steps, "stopped": result.stopped,
        "settings": {k: _describe(v) for k, v in kwargs.items()},
        **({"config": result.config.to_dict()} if config is not None else {}),
        "history": {k: np.asarray(v).tolist() for k, v in result.history.items()},
    })
    return result

  def one_scale_too(self, label: str, content, style, **kwargs) -> None:
    """With a coarse-to-fine --scales, the same run at one scale with as many steps in
    all, beside it: the reader sees whether the cheaper schedule agrees."""
    settings = schedule()
    if settings["scales"] == 1:
      return
    steps = total_steps(settings)
    self.stylize(f"{label}, one scale, {steps} steps", content, style, scales=1,
                 num_steps=steps, **kwargs)

  def write(self, *, columns: int | None = None, extra: dict | None = None) -> pathlib.Path:
    return write_figure(self.name, self.tiles, self.labels, self.started, {
        "image_size": FLAGS.image_size, "num_steps": FLAGS.num_steps, "ratio": FLAGS.ratio,
        "schedule": schedule(),
        "weights": dict(self.weights.meta, preprocessing=self.weights.preprocessing),
        "runs": self.runs, **(extra or {})}, columns=columns)


def write_figure(name: str, tiles: Sequence[np.ndarray], labels: Sequence[str],
                 started: float, fields: dict, *, columns: int | None = None,
                 figure: str | os.PathLike | None = None) -> pathlib.Path:
  """Writes the figure (a labelled contact sheet as JPEG under images.FIGURE_BYTES; at
  `figure`, default OUTPUT_DIR/NAME.jpg) and OUTPUT_DIR/NAME.json (fields, the
  experiment's name, its seconds since `started`, the device and the figure's path); a
  NAME.png of an older version is removed (replaced, not kept beside)."""
  out = pathlib.Path(FLAGS.output_dir)
  out.mkdir(parents=True, exist_ok=True)
  figure = pathlib.Path(figure or out / f"{name}.jpg")
  figure.parent.mkdir(parents=True, exist_ok=True)
  images.save_jpeg_under(images.contact_sheet(tiles, labels, columns=columns), figure)
  (out / f"{name}.png").unlink(missing_ok=True)
  device = jax.devices()[0]
  payload = {"experiment": name, "seconds": time.time() - started,
             "device": {"platform": device.platform, "kind": device.device_kind},
             "figure": str(figure), **fields}
  with atomic_path(out / f"{name}.json") as tmp:
    pathlib.Path(tmp).write_text(json.dumps(payload, indent=1, default=float))
  logging.info("wrote %s and %s.json (%.0f s)", figure, out / name, payload["seconds"])
  return figure


def _describe(value):
  """A JSON-able record of a setting: arrays (images, masks) by their shapes."""
  if isinstance(value, (list, tuple)):
    return [_describe(v) for v in value]
  if isinstance(value, np.ndarray):
    return f"array{list(value.shape)}"
  return value if isinstance(value, (int, float, str, type(None))) else repr(value)


def plot_curves(curves: dict[str, dict[str, Sequence[float]]], path: str | os.PathLike, *,
                keys: Sequence[str] = ("total", "content", "style"), x: str = "step",
                title: str = "") -> pathlib.Path:
  """Loss vs step (x='step') or vs wall-clock seconds (x='time'), log scale, one panel a key."""
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("plots need matplotlib: pip install -e '.[experiments]'") from None
  fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for label, history in curves.items():
      y = np.asarray(history[key], np.float64)
      y = y.mean(axis=1) if y.ndim == 2 else y
      xs = np.asarray(history["time"]) if x == "time" else np.arange(len(y))
      ax.plot(xs, np.maximum(y, 1e-30), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("seconds" if x == "time" else "step")
    ax.set_title(f"{key} loss")
  axes[0][0].legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


def main_wrapper(run):
  """Turns a UserError into one line and exit status 1, like the CLI."""
  import sys  # pylint: disable=import-outside-toplevel

  def main(argv):
    if len(argv) > 1:
      raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
      run()
    except UserError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)

  return main
