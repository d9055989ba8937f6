r"""`jaxstyle-video`: stylize a video with the feed-forward network or per-frame
optimization, and measure its flicker.

  jaxstyle-video --input=frames/ --output=styled/ --method=fast \
      --model=models/starry_night.msgpack
  jaxstyle-video --input=frames/ --output=styled/ --method=arbitrary \
      --style=starry_night.jpg
  jaxstyle-video --input=clip.mp4 --output=styled.mp4 --method=warm \
      --style=starry_night.jpg --image_size=128 --num_steps=100
  jaxstyle-video --input=clip.mp4 --output=styled.mp4 --method=temporal \
      --style=starry_night.jpg --num_steps=50 --metrics_json=clip.json
  jaxstyle-video --pan=photo.jpg --num_frames=8 --pan_px=4 --image_size=128 \
      --method=fast --model=models/starry_night.msgpack --output=pan/ --metrics_json=pan.json

The methods and metrics are described in jaxstyle.video. The optimization methods
(noise, warm, warm_shifted, temporal) take the run config's settings, the flags of
`jaxstyle` (jaxstyle/cli/config_flags.py), with a video's defaults.
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import flags, logging

from jaxstyle import flow
from jaxstyle import images as images_lib
from jaxstyle._atomic import OutputError, write_or_keep
from jaxstyle.cli import common, config_flags
from jaxstyle.errors import Interrupted, UserError
from jaxstyle.flow import FLOW_METHODS
from jaxstyle.video import (METHODS, OPTIMIZATION_MODES, VIDEO_SUFFIXES, FramesInterrupted,
                            blend_with_previous,
                            mean_gradient_magnitude, pan_frames, read_frames,
                            stylize_frames_arbitrary, stylize_frames_fast, stylize_frames_optim,
                            temporal_instability, write_frames)

FLAGS = flags.FLAGS


def _define_flags():
  if "pan_px" in FLAGS:
    return
  flags.DEFINE_string("input", None, "A directory of frames or a video file.")
  flags.DEFINE_string("pan", None, "Instead of --input: a photo to pan over.")
  flags.DEFINE_integer("num_frames", 8, "Frames of the --pan (or the most read from "
                       "--input).", lower_bound=2)
  flags.DEFINE_integer("pan_px", 4, "Pan speed, px per frame.", lower_bound=0)
  flags.DEFINE_string("output", None, "A directory (frame_NNNNN.png) or a video file.")
  flags.DEFINE_enum("method", "fast", METHODS, "How frames are stylized.")
  flags.DEFINE_string("model", None, "Model file, for --method=fast.")
  flags.DEFINE_string("style", None, "Style image, for the optimization methods and "
                      "--method=arbitrary (there also a saved style vector, .npy).")
  flags.DEFINE_enum("flow", "dis", FLOW_METHODS, "--method=temporal: the optical flow "
                    "(OpenCV's; the warping error measures with the other one).")
  flags.DEFINE_float("blend", 0.0, "--method=fast or arbitrary: blend each output frame "
                     "with the previous one warped by the flow, this much where the flow is "
                     "reliable (0: off; 1: reliable pixels follow the flow only).",
                     lower_bound=0, upper_bound=1)
  flags.DEFINE_string("metrics_json", None, "Timing, Lai et al.'s warping error of the "
                      "output and of the input (the floor; needs the video extra), and "
                      "with --pan the temporal instability.")
  # The optimization methods' settings: every field of jaxstyle.StylizeConfig, as for
  # `jaxstyle` (--num_steps, --content_weight, --temporal_weight, --style_loss, --network,
  # --optimizer, --config=FILE, ...), with a video's defaults: frames as read, 100 steps.
  config_flags.define_flags()
  FLAGS.set_default("image_size", None)
  FLAGS.set_default("num_steps", 100)


def _config():
  """The optimization methods' `StylizeConfig`: --config's (or the defaults) with the
  setting flags given over it (all of them without --config). The frames and the style
  are read at the frames' size; each frame's start is the method's (not --init)."""
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  if FLAGS["init"].present:
    raise UserError("--init: jaxstyle-video starts each frame as --method says")
  base = config_flags.load(FLAGS.config)[0] if FLAGS.config else config_lib.StylizeConfig()
  values = config_flags.values(given_only=bool(FLAGS.config))
  values.pop("init", None)
  if not FLAGS["log_every"].present:
    values["log_every"] = 0  # A line per frame instead (with the clip's ETA).
  try:
    config = base.replace(**values)
    if config.objective.sweep_points() is not None or config.start.num_seeds != 1:
      raise ValueError("a video is one image per frame: no weight sweeps or --num_seeds")
    return config.replace(image_size=None, style_size=None)
  except (TypeError, ValueError) as e:
    raise config_flags.flag_error(e) from None


def _run() -> None:
  if not FLAGS.output or bool(FLAGS.input) == bool(FLAGS.pan):
    raise UserError("give --output and one of --input or --pan")
  config = _config() if FLAGS.method in OPTIMIZATION_MODES else None
  shift = None
  if FLAGS.pan:
    size = FLAGS.image_size or 128
    photo = images_lib.load_image(FLAGS.pan)
    scale = size / min(photo.shape[:2])  # The frame's shorter side = size; 4:3 frames.
    photo = images_lib.resize(photo, round(max(photo.shape[:2]) * scale))
    height, width = size * 3 // 4, size
    shift = FLAGS.pan_px
    try:
      frames = pan_frames(photo, height=height, width=width, num_frames=FLAGS.num_frames,
                          shift=shift)
    except ValueError as e:
      raise UserError(str(e)) from None
    fps = 12.0
  else:
    frames, fps = read_frames(FLAGS.input, FLAGS.image_size, FLAGS.num_frames)
  output = pathlib.Path(FLAGS.output)
  outputs = ([output] if output.suffix.lower() in VIDEO_SUFFIXES else
             [output / f"frame_{t:05d}.png" for t in range(len(frames))])
  source = pathlib.Path(FLAGS.input or FLAGS.pan)
  inputs = images_lib.find_images(source) if source.is_dir() else [source]
  outputs += [pathlib.Path(FLAGS.metrics_json)] if FLAGS.metrics_json else []
  common.check_outputs(outputs, [*inputs, FLAGS.style, FLAGS.model])
  if FLAGS.method == "warm_shifted" and shift is None:
    raise UserError("--method=warm_shifted needs --pan (the known motion)")
  if FLAGS.blend and FLAGS.method not in ("fast", "arbitrary"):
    raise UserError("--blend is for --method=fast and arbitrary (the optimization methods "
                    "have --method=temporal)")
  logging.info("%d frames of %dx%d px, method %s", len(frames), frames.shape[2],
               frames.shape[1], FLAGS.method)
  started = time.time()
  interrupted = None
  if FLAGS.method == "fast":
    if not FLAGS.model:
      raise UserError("--method=fast needs --model")
    from jaxstyle.johnson.models import load_model  # pylint: disable=import-outside-toplevel
    model = load_model(FLAGS.model)
    stylize_frames_fast(model, frames[:4], kernels=FLAGS.kernels,
                        precision=FLAGS.precision)  # Compile outside the timing.
    started = time.time()
    outputs = stylize_frames_fast(model, frames, kernels=FLAGS.kernels,
                                  precision=FLAGS.precision)
  elif FLAGS.method == "arbitrary":
    if not FLAGS.style:
      raise UserError("--method=arbitrary needs --style")
    # pylint: disable=import-outside-toplevel
    from jaxstyle import arbitrary
    from jaxstyle.weights import arbitrary as arbitrary_weights
    style = (arbitrary.load_style_vector(FLAGS.style) if FLAGS.style.endswith(".npy")
             else images_lib.load_image(FLAGS.style))
    weights = arbitrary_weights.ensure_default(log=logging.info)
    kwargs = {"kernels": FLAGS.kernels, "precision": FLAGS.precision}
    stylize_frames_arbitrary(weights, frames[:4], style, **kwargs)  # Compile outside the timing.
    started = time.time()
    outputs = stylize_frames_arbitrary(weights, frames, style, **kwargs)
  else:
    if not FLAGS.style:
      raise UserError(f"--method={FLAGS.method} needs --style")
    from jaxstyle import features  # pylint: disable=import-outside-toplevel
    style = images_lib.load_image(FLAGS.style, max(frames.shape[1:3]))
    objective = config.objective
    weights = features.load_weights(objective.network or "vgg19", log=logging.info,
                                    path=objective.weights_file)
    try:
      outputs = stylize_frames_optim(
          frames, style, config, mode=FLAGS.method, shift=shift, seed=config.start.seed,
          flow_method=FLAGS.flow, weights=weights,
          on_frame=lambda t, _: _log_frame(t, len(frames), started))
    except FramesInterrupted as e:  # Keep the frames finished: the video so far.
      interrupted, outputs = str(e), e.frames
    except ValueError as e:  # The library's checks of settings and images.
      raise config_flags.flag_error(e) from None
  raw = None
  if FLAGS.blend:
    raw, outputs = outputs, blend_with_previous(outputs, frames, FLAGS.blend,
                                                flow_method=FLAGS.flow)
  seconds = time.time() - started
  if interrupted and not len(outputs):
    raise Interrupted(f"{interrupted}; no frame was finished, nothing written")
  failures = []  # Writes that failed: each kept its content in a temporary file.
  try:
    written = write_frames(outputs, FLAGS.output, fps)
  except OutputError as e:
    failures.append(e)
    written = e.kept
  done = len(outputs)
  metrics = {"method": FLAGS.method, "frames": done,
             "height": int(frames.shape[1]), "width": int(frames.shape[2]),
             "seconds": seconds, "ms_per_frame": 1000 * seconds / done}
  if interrupted:
    metrics.update(interrupted=interrupted, frames_requested=len(frames))
  if config is not None:
    metrics["config"] = config.to_dict()
  if shift is not None and done > 1:
    metrics.update(pan_px=shift, **temporal_instability(outputs, frames[:done], shift))
  if FLAGS.metrics_json and done > 1:
    inputs = frames[:done]
    flows = flow.metric_flows(inputs)  # The input's, once for every error below.
    metrics.update(_warping_errors(outputs, inputs, flows))
    metrics["sharpness"] = mean_gradient_magnitude(outputs)
    if raw is not None:  # What the blend bought, and what it cost in detail.
      metrics.update(blend=FLAGS.blend, unblended_sharpness=mean_gradient_magnitude(raw),
                     unblended_warping_error=flow.warping_error(raw[:done], inputs,
                                                               flows=flows))
  print(json.dumps(metrics))
  metrics_json = FLAGS.metrics_json
  if metrics_json:
    text = json.dumps(metrics, indent=1)
    try:
      write_or_keep(metrics_json, lambda tmp: pathlib.Path(tmp).write_text(text),
                    what="the metrics")
    except OutputError as e:
      failures.append(e)
      metrics_json = e.kept
  logging.info("wrote %s (%.1f s, %.0f ms per frame)", written, seconds,
               metrics["ms_per_frame"])
  failed = "; ".join(map(str, failures))
  if interrupted:
    saved = ", ".join(str(p) for p in (written, metrics_json) if p)
    raise Interrupted(f"{interrupted}; saved the {done} finished frames of {len(frames)}: "
                      f"{saved}" + (f" ({failed})" if failed else ""))
  if failures:
    raise UserError(failed)


def _log_frame(t: int, num_frames: int, started: float) -> None:
  """A progress line per finished frame: its time, and the clip's ETA at that pace."""
  elapsed = time.time() - started
  logging.info("frame %d/%d done (%.0f s, %.1f s per frame, ETA %.0f s)", t + 1, num_frames,
               elapsed, elapsed / (t + 1), elapsed / (t + 1) * (num_frames - t - 1))


def _warping_errors(outputs, inputs, flows) -> dict:
  """Lai et al.'s warping error of the output and of the input clip (the floor)."""
  output_error = flow.warping_error(outputs, inputs, flows=flows)
  input_error = flow.warping_error(inputs, inputs, flows=flows)
  return {"warping_error": output_error, "input_warping_error": input_error,
          "warping_error_ratio": output_error / max(input_error, 1e-12)}


main, run = common.entry_point(_define_flags, _run)


if __name__ == "__main__":
  run()
