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


def _define_flags():
  if "content" in FLAGS:
    return
  from jaxstyle.cli import config_flags  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import presets  # pylint: disable=import-outside-toplevel
  flags.DEFINE_enum("preset", None, list(presets.PRESETS),
                    "Named settings: gatys2016 = the paper (normalized VGG-19, average "
                    "pooling, alpha/beta = 1e-3, 512 px); gatys2016_photo = its "
                    "photorealistic transfer (alpha/beta = 1e-2, init from content); "
                    "gatys2016_code = the authors' released code (Gram / positions by "
                    "mean squared error at relu1_1..relu5_1, weights 1e3/N^2, max "
                    "pooling, L-BFGS 100 pairs, 500 steps from the photo, 512 px on the "
                    "shorter side; needs `python -m jaxstyle.weights normalize "
                    "--pooling=max`); crowsonkb and neural_style = those PyTorch/Lua "
                    "tools' default recipes in our VGG-19's units "
                    "(jaxstyle/gatys/presets.py). Flags given explicitly override the "
                    "preset.")
  flags.DEFINE_string("content", None, "Content photo (any format Pillow reads), or a "
                      "directory or glob of photos (a batch: needs --output_dir).")
  flags.DEFINE_list("style", None, "Style image(s), comma-separated; blended if several "
                    "(or one run each with --each_style).")
  flags.DEFINE_boolean("each_style", False, "Batch: one output per (content, style) pair "
                       "instead of blending the styles.")
  flags.DEFINE_string("output", "out.png", "Output image; with --num_seeds > 1, "
                      "OUTPUT_seedN.png per seed and OUTPUT_sheet.png.")
  flags.DEFINE_string("output_dir", None, "Batch output folder: CONTENT__STYLE.png (the "
                      "extension of --output) and CONTENT__STYLE.json per pair, and "
                      "summary.json.")
  flags.DEFINE_list("style_masks", None, "Spatial control: one mask image per --style "
                    "(white: that style, black: not); where no mask is white, no style.")
  flags.DEFINE_boolean("demo", False, "Use scikit-image's photo of Chelsea the cat and its "
                       "immunohistochemistry slide as content and style "
                       "(pip install 'jaxstyle[demo]').")
  flags.DEFINE_enum("rank_by", None, ["lpips", "style"],
                    "With --num_seeds > 1: order the contact sheet (and the log) by the "
                    "quality benchmark's judges, best first: lpips (closest to the photo, "
                    "LPIPS with AlexNet) or style (closest to the painting: Gram, sliced-"
                    "Wasserstein and mean_cov distances on VGG-16 and AlexNet); the "
                    "values per seed go to --metrics_json. Fetches those networks once.")
  flags.DEFINE_string("metrics_json", None, "Write per-step losses, wall time, device, "
                      "the run's config, what it resolved and its input files here.")
  config_flags.define_flags()  # Every setting: a field of jaxstyle.StylizeConfig.


def _demo_image(name: str) -> str:
  try:
    import skimage  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("--demo needs scikit-image's sample photos: "
                    "pip install 'jaxstyle[demo]'") from None
  return str(pathlib.Path(skimage.__file__).parent / "data" / name)


def _suffixed(path: pathlib.Path, suffix: str) -> pathlib.Path:
  return path.with_name(f"{path.stem}_{suffix}{path.suffix}")


def _config():
  """(The run's `StylizeConfig`, --config's recorded run or None): --config's or
  --preset's config (or the defaults), with the --config.GROUP.FIELD overrides and every
  setting flag that was given (all of them without --config or --preset) over it; the
  styles read at the output's size unless a style_size or style_scale sizes them."""
  from jaxstyle.cli import config_flags  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import presets  # pylint: disable=import-outside-toplevel
  record = None
  if FLAGS.config:
    if FLAGS.preset:
      raise UserError("give --config or --preset, not both")
    base, record = config_flags.load(FLAGS.config)
  else:
    overrides = [n for n in FLAGS if n.startswith("config.") and FLAGS[n].present]
    if overrides:
      raise UserError(f"--{overrides[0]} overrides --config's field: give --config too")
    base = presets.preset(FLAGS.preset) if FLAGS.preset else config_lib.StylizeConfig()
  values = config_flags.values(given_only=bool(FLAGS.preset or FLAGS.config))
  if not FLAGS["style_size"].present:
    values.pop("style_size", None)
  if base.images.image_size is None:
    values.setdefault("image_size", FLAGS.image_size)
  try:
    config = base.replace(**values)
    if config.images.style_size is None and config.images.style_scale is None:
      config = config.replace(style_size=config.images.image_size)  # Read at the output's.
    return config, record
  except (TypeError, ValueError) as e:
    raise config_flags.flag_error(e) from None


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
                 metrics_path: str | None, mask_paths, init_path) -> dict:
  """One transfer: reads the images, runs, writes the outputs; returns a summary."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from jaxstyle import images  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import memory, transfer  # pylint: disable=import-outside-toplevel

  content = images.load_image(content_path)
  network = config.objective.network or "vgg19"
  # Check the memory before resizing: a huge --image_size must fail fast and clearly.
  size, side = config.images.image_size, config.images.image_side
  height, width = images.scaled_shape(*content.shape[:2], size, side)
  points = config.objective.sweep_points()
  objective = config.objective.resolve(network)
  memory.plan_memory(height, width,
                     num_seeds=config.start.num_seeds * (1 if points is None else len(points)),
                     layers=objective.all_layers, content_layers=objective.content_layers,
                     method=config.solver.optimizer, history_size=config.solver.lbfgs_history,
                     style_loss=config.objective.style_loss,
                     tile_size=config.backend.tile_size, kernels=config.backend.kernels,
                     network=network)
  content = images.resize_to(content, height, width)
  styles = [images.load_image(p, config.images.style_size or size, side)
            for p in style_paths]
  masks = None
  if mask_paths:
    masks = [images.load_mask(p, height, width) for p in mask_paths]
  data = {}
  if config.start.init == "image":
    data["init"] = images.resize_to(images.load_image(init_path), height, width)
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
    from jaxstyle.cli import config_flags  # pylint: disable=import-outside-toplevel
    raise config_flags.flag_error(e) from None

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
                   "style_masks": mask_paths, "init": init_path,
                   "sha256": _sha256s([content_path, *style_paths, *(mask_paths or []),
                                       init_path, _weights_file(config)]),
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


def _sha256s(paths) -> dict[str, str]:
  """{path: sha256} of a run's input files (a rerun with --config checks them)."""
  return {str(p): _sha256_of(str(p), *_stamp(p)) for p in paths
          if p is not None and pathlib.Path(p).is_file()}


def _stamp(path) -> tuple[int, int]:
  stat = pathlib.Path(path).stat()
  return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:  # pylint: disable=unused-argument
  """file_sha256, once per file version: a batch records the weights file's (80 MB) for
  every item."""
  from jaxstyle.weights import file_sha256  # pylint: disable=import-outside-toplevel
  return file_sha256(path)


def _weights_file(config) -> str:
  """The weights file the run reads (for the record)."""
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  name = config.objective.weights_file
  if name in weights_lib.NORMALIZED:
    return str(weights_lib.normalized_path(weights_lib.NORMALIZED[name]))
  if name is not None:
    return name
  return str(features.FEATURE_NETWORKS[config.objective.network or "vgg19"].default_path())


def _load_weights(config):
  """--weights (a file of --network's; a preset's "normalized") or --network's default
  file, fetched on first use."""
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  return features.load_weights(config.objective.network or "vgg19", log=logging.info,
                               path=config.objective.weights_file)


def _run() -> None:
  from jaxstyle import images  # pylint: disable=import-outside-toplevel

  config, record = _config()
  if FLAGS.preset:
    logging.info("preset %s: %s", FLAGS.preset, ", ".join(
        f"{k}={v}" for k, v in config.changes().items()))
  recorded = (record or {}).get("inputs", {})
  content_arg = (FLAGS.content or (_demo_image(_DEMO_CONTENT) if FLAGS.demo else None)
                 or recorded.get("content"))
  style_paths = (FLAGS.style or ([_demo_image(_DEMO_STYLE)] if FLAGS.demo else None)
                 or recorded.get("style"))
  if not content_arg or not style_paths:
    raise UserError("give --content and --style (or --demo)")
  mask_paths = FLAGS.style_masks or (recorded.get("style_masks") if record else None)
  init_path = FLAGS.init if config.start.init == "image" else None
  if record is not None and init_path is not None and not FLAGS["init"].present:
    init_path = recorded.get("init")
  if record is not None:  # The same files as the recorded run, or a refusal.
    from jaxstyle.cli import config_flags  # pylint: disable=import-outside-toplevel
    config_flags.check_recorded(record, {
        content_arg: "the content photo", **{p: "the style image" for p in style_paths},
        **{p: "the style mask" for p in mask_paths or []},
        **({init_path: "the init image"} if init_path else {}),
        _weights_file(config): "the weights file"})
  output = pathlib.Path(FLAGS.output)
  if output.suffix.lower() not in images.IMAGE_SUFFIXES:
    raise UserError(f"--output {output} must end in one of {', '.join(images.IMAGE_SUFFIXES)}")
  if mask_paths is not None:
    if len(mask_paths) != len(style_paths) or FLAGS.each_style:
      raise UserError(f"--style_masks needs one mask per --style ({len(style_paths)} "
                      f"styles, {len(mask_paths)} masks) and no --each_style")
  if FLAGS.rank_by and config.start.num_seeds == 1:
    raise UserError("--rank_by orders a seed sweep: give --num_seeds > 1")
  if FLAGS.rank_by and config.objective.sweep_points() is not None:
    raise UserError("--rank_by orders the seeds of one setting, not a weight sweep (its "
                    "judges would rank one end of the sweep first)")
  contents = images.list_images(content_arg)
  groups = [[s] for s in style_paths] if FLAGS.each_style else [list(style_paths)]
  inputs = [*contents, *style_paths, *(mask_paths or []), init_path, FLAGS.weights]
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
    _stylize_one(config, contents[0], groups[0], output, weights, FLAGS.metrics_json,
                 mask_paths, init_path)
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
                               str(target.with_suffix(".json")), mask_paths, init_path))
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
