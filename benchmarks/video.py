r"""Flicker on real clips: every video method, measured by Lai et al.'s warping error.

  python -m benchmarks.video                  # both clips, 16 frames, 50 steps: ~40 min here
  python -m benchmarks.video --clips=carphone --frames=4 --steps=5 --methods=warm,temporal

For each clip of ../shared/videos/ (carphone at its native 176x144, Big Buck Bunny at
320x180; SOURCES.md there) and each --methods (noise, warm, temporal: optimization with
--steps L-BFGS steps per frame; fast: the committed models/starry_night.msgpack;
arbitrary: Magenta's arbitrary-style network; fast_blend and arbitrary_blend: the same
with `video.blend_with_previous` at --blend), in the style of The Starry Night (the
painting the fast model was trained on): the warping error of the output
(`flow.warping_error`: Farneback flow and occlusions from the input clip) and its ratio
to the input's own, seconds per frame (flow included; the networks after a compiling
call), the mean per-frame content and style losses of the default objective
(`video.frame_losses`: one judge for all methods) and the sharpness
(`video.mean_gradient_magnitude`). Writes benchmarks/results/video_cpu.json (a rerun of
some clips or methods replaces their rows and keeps the others) and prints the table
for benchmarks/README.md; --strips=DIR also saves each run's frames side by side.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
CLIPS = {"carphone": ("carphone_pristine.mp4", None), "bigbuckbunny": ("bigbuckbunny.mp4", 320)}
METHODS = ("noise", "warm", "temporal", "fast", "fast_blend", "arbitrary", "arbitrary_blend")

flags.DEFINE_list("clips", list(CLIPS), "Clips of --videos.")
flags.DEFINE_string("videos", str(_SHARED / "videos"), "The shared clips' folder.")
flags.DEFINE_list("methods", list(METHODS), "Methods to measure.")
flags.DEFINE_integer("frames", 16, "Frames per clip (its first).")
flags.DEFINE_integer("steps", 50, "L-BFGS steps per frame (optimization methods).")
flags.DEFINE_float("temporal_weight", None, "--method=temporal's weight (None: the "
                   "default, objective.DEFAULT_TEMPORAL_WEIGHT).")
flags.DEFINE_float("blend", 0.5, "The *_blend methods' strength.")
flags.DEFINE_string("style", str(_SHARED / "images" / "starry_night.jpg"), "Style image.")
flags.DEFINE_string("model", "models/starry_night.msgpack", "The fast method's model.")
flags.DEFINE_string("weights", None, "VGG-19 weights file (default: jaxstyle's).")
flags.DEFINE_string("output", "benchmarks/results/video_cpu.json", "Results file.")
flags.DEFINE_string("strips", None, "If set, a folder for each run's frames side by side "
                    "(CLIP_METHOD.png, every frame of the clip in a row) to look at.")
FLAGS = flags.FLAGS


def _stylize(method: str, frames: np.ndarray, style: np.ndarray, weights
             ) -> tuple[np.ndarray, float]:
  """The method's output frames and seconds per frame (flow and blend included; the
  networks and the blend timed after a compiling call)."""
  from jaxstyle import video  # pylint: disable=import-outside-toplevel
  base = method.removesuffix("_blend")
  if base == "fast":
    from jaxstyle.johnson.models import load_model  # pylint: disable=import-outside-toplevel
    model = load_model(FLAGS.model)
    video.stylize_frames_fast(model, frames[:4])
    run = lambda: video.stylize_frames_fast(model, frames)
  elif base == "arbitrary":
    from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
    networks = arbitrary.ensure_default()
    video.stylize_frames_arbitrary(networks, frames[:4], style)
    run = lambda: video.stylize_frames_arbitrary(networks, frames, style)
  else:
    extra = {} if FLAGS.temporal_weight is None else {"temporal_weight": FLAGS.temporal_weight}
    run = lambda: video.stylize_frames_optim(frames, style, mode=base, weights=weights,
                                             num_steps=FLAGS.steps, **extra)
  if method != base:  # Compiles the warp for this frame size outside the timing.
    video.blend_with_previous(frames[:2], frames[:2], FLAGS.blend)
  t0 = time.perf_counter()
  outputs = run()
  if method != base:
    outputs = video.blend_with_previous(outputs, frames, FLAGS.blend)
  return outputs, (time.perf_counter() - t0) / len(frames)


def _measure(clip: str, method: str, frames: np.ndarray, style: np.ndarray, weights,
             flows) -> dict:
  from jaxstyle import flow, video  # pylint: disable=import-outside-toplevel
  outputs, seconds = _stylize(method, frames, style, weights)
  errors = flow.warping_errors(outputs, frames, flows=flows)
  error, floor = float(np.mean(errors)), flow.warping_error(frames, frames, flows=flows)
  if FLAGS.strips:
    from jaxstyle import images  # pylint: disable=import-outside-toplevel
    folder = pathlib.Path(FLAGS.strips)
    folder.mkdir(parents=True, exist_ok=True)
    images.save_image(np.concatenate(list(outputs), axis=1), folder / f"{clip}_{method}.png")
  losses = video.frame_losses(outputs, frames, style, weights=weights)
  row = {"clip": clip, "method": method, "frames": len(frames),
         "height": int(frames.shape[1]), "width": int(frames.shape[2]),
         "warping_error": error, "input_warping_error": floor, "ratio": error / floor,
         "s_per_frame": seconds, "content": float(np.mean(losses["content"])),
         "style": float(np.mean(losses["style"])),
         "per_frame": {k: v.tolist() for k, v in losses.items()},
         "per_pair_warping_error": errors.tolist(),
         "sharpness": video.mean_gradient_magnitude(outputs),
         "input_sharpness": video.mean_gradient_magnitude(frames)}
  logging.info("%s %s: warping error %.4g (%.1fx the input's), %.1f s/frame", clip, method,
               error, row["ratio"], seconds)
  return row


def main(argv):
  del argv
  from jaxstyle import features, flow, images, video  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import objective  # pylint: disable=import-outside-toplevel
  for method in FLAGS.methods:
    if method not in METHODS:
      raise app.UsageError(f"--methods: {method} is not one of {', '.join(METHODS)}")
  weights = features.load_weights("vgg19", path=FLAGS.weights)
  settings = {"steps": FLAGS.steps, "blend": FLAGS.blend,
              "temporal_weight": (objective.DEFAULT_TEMPORAL_WEIGHT
                                  if FLAGS.temporal_weight is None else FLAGS.temporal_weight),
              "load_average": " ".join(machine.describe().get("load_average_at_start", []))}
  rows = []
  for clip in FLAGS.clips:
    path, size = CLIPS[clip]
    frames, _ = video.read_frames(pathlib.Path(FLAGS.videos) / path, size, FLAGS.frames)
    style = images.load_image(FLAGS.style, max(frames.shape[1:3]))
    flows = flow.metric_flows(frames)  # The metric's, the same for every method.
    for method in FLAGS.methods:
      rows.append(dict(_measure(clip, method, frames, style, weights, flows), **settings))
  # Rows of other clips and methods already in --output are kept (a rerun of some).
  rows = machine.merged_runs(FLAGS.output, rows, lambda r: (r["clip"], r["method"]),
                             lambda r: (list(CLIPS).index(r["clip"]),
                                        METHODS.index(r["method"])))
  out = {"machine": machine.describe(), "runs": rows}
  pathlib.Path(FLAGS.output).write_text(json.dumps(out, indent=1) + "\n")
  machine.print_table(
      ["clip", "method", "warping error", "/ input's", "s / frame", "content", "style",
       "sharpness"],
      [[f"{r['clip']} {r['width']}x{r['height']}", r["method"], f"{r['warping_error']:.4f}",
        f"{r['ratio']:.1f}x", f"{r['s_per_frame']:.3g}", f"{r['content']:.3g}",
        f"{r['style']:.3g}", f"{r['sharpness']:.4f}"] for r in rows])


if __name__ == "__main__":
  app.run(main)
