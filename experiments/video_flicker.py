r"""Flicker on a real clip: warm-started frames against Ruder et al.'s temporal loss,
frame by frame, with where each frame departs from the previous one carried by the flow.

  python -m experiments.video_flicker      # carphone, 8 frames of 176x144, 50 L-BFGS
                                           # steps per frame: ~4 min on 2 CPU cores

Reads the first --num_frames of --clip (the shared carphone clip) and stylizes them in
the style of The Starry Night with `video.stylize_frames_optim`, mode "warm" (each
frame from the previous result) and "temporal" (from the previous result warped by
DIS flow, held to it by the temporal term), the default objective. The figure shows
the last --show frames that have a next one: the input, each method's frames and under
them the per-pixel term of Lai et al.'s warping error (`flow.warping_error_map`:
|O_t - O_{t+1} warped back by the input's Farneback flow|, brighter = more change
beyond the motion; magenta where the input's flow is not trusted and the metric does
not look); each label gives that pair's error. Expect: warm's paint changes everywhere from frame to
frame (bright maps), temporal's only at moving edges and where new content appears.
"""

import pathlib
import time

import numpy as np
from absl import app, flags, logging

from experiments import common
from jaxstyle import features, flow, images, video

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
flags.DEFINE_string("clip", str(_SHARED / "videos" / "carphone_pristine.mp4"), "Clip.")
flags.DEFINE_string("style", str(_SHARED / "images" / "starry_night.jpg"), "Style.")
flags.DEFINE_integer("num_frames", 8, "Frames of the clip (its first).", lower_bound=2)
flags.DEFINE_integer("num_steps", 50, "L-BFGS steps per frame.", lower_bound=1)
flags.DEFINE_integer("show", 4, "Consecutive frames shown (the last ones).", lower_bound=2)
flags.DEFINE_list("methods", ["warm", "temporal"], "Modes of video.stylize_frames_optim.")
flags.DEFINE_string("weights", None, "VGG-19 weights file (default: jaxstyle's).")
flags.DEFINE_string("output_dir", "experiments/results", "Where the figure and JSON go.")
FLAGS = flags.FLAGS

_UNTRUSTED = np.array([1.0, 0.0, 1.0])  # Magenta: the metric's mask is 0 there.
_GAIN = 4.0  # |difference| x 4: a change of a quarter of the range shows white.


def error_tile(squared: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """A pair's per-pixel warping error as an image: sqrt(squared) x _GAIN in grey, the
  untrusted pixels magenta."""
  grey = np.clip(np.sqrt(squared) * _GAIN, 0.0, 1.0)[..., None] * np.ones(3)
  return np.where(mask[..., None] > 0, grey, _UNTRUSTED).astype(np.float32)


def run():
  started = time.time()
  frames, _ = video.read_frames(FLAGS.clip, None, FLAGS.num_frames)
  style = images.load_image(FLAGS.style, max(frames.shape[1:3]))
  weights = features.load_weights("vgg19", path=FLAGS.weights)
  shown = range(max(len(frames) - 1 - FLAGS.show, 0), len(frames) - 1)  # Each with a next.
  tiles = [frames[t] for t in shown]
  labels = [f"input t={t}" for t in shown]
  results = {}
  flows = flow.metric_flows(frames)  # The metric's view of the input, for both methods.
  for mode in FLAGS.methods:
    t0 = time.time()
    out = video.stylize_frames_optim(frames, style, mode=mode, weights=weights,
                                     num_steps=FLAGS.num_steps)
    seconds = time.time() - t0
    errors = flow.warping_errors(out, frames, flows=flows)
    results[mode] = {"warping_error": float(np.mean(errors)), "per_pair": errors.tolist(),
                     "s_per_frame": seconds / len(frames)}
    logging.info("%s: warping error %.4g, %.1f s per frame", mode, np.mean(errors),
                 seconds / len(frames))
    tiles += [out[t] for t in shown]
    labels += [f"{mode} t={t}" for t in shown]
    for t in shown:
      tiles.append(error_tile(*flow.warping_error_map(out[t], out[t + 1], flows[t])))
      labels.append(f"t->{t + 1}: E={errors[t]:.4f}")
  results["input"] = {"warping_error": flow.warping_error(frames, frames, flows=flows)}
  common.write_figure("video_flicker", tiles, labels, started, {
      "clip": FLAGS.clip, "style": FLAGS.style, "frames": len(frames),
      "height": int(frames.shape[1]), "width": int(frames.shape[2]),
      "num_steps": FLAGS.num_steps, "shown": list(shown), "results": results},
      columns=len(shown))


if __name__ == "__main__":
  app.run(common.main_wrapper(run))
