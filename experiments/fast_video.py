r"""Video flicker ("popping"): optimization per frame from noise, warm-started, and the
feed-forward network, on a synthetic camera pan with known motion.

  python -m experiments.fast_video         # 8 frames of 128x96 px, 60 L-BFGS steps/frame:
                                           # ~3 min on 2 CPU cores (needs models/starry_night.msgpack)

Pans over a photo (--pan, default golden_gate.jpg) by --pan_px px per frame and
stylizes the frames four ways: Gatys et al. per frame from the same white noise
(`noise`), from the previous frame's result (`warm`), from the previous result moved
by the known motion (`warm_shifted`, a stand-in for Ruder et al.'s optical-flow
warping), and with the trained network (`fast`). For each it reports
`jaxstyle.video.temporal_instability`: the raw ratio (mean |out[t+1] - out[t]| over
the same for the input) and the motion-compensated ratio (what changes beyond the
known pan, relative to the input's change: the popping). Optimization uses the
default (unnormalized) VGG-19, alpha/beta = 1e-2, L-BFGS.

Expect: from noise, every frame is a different texture (compensated ratio well
above the network's); warm starts reduce the popping, shifted warm starts more; the
feed-forward network is the most stable because the same input gives the same output
and a shifted input gives a nearly shifted output.
"""

import json
import pathlib
import time

from absl import app, flags, logging

from experiments import common
from jaxstyle import images, video
from jaxstyle import johnson as fast
from jaxstyle import weights as weights_lib
from jaxstyle._atomic import atomic_path

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"
flags.DEFINE_string("pan", str(SHARED / "golden_gate.jpg"), "Photo to pan over.")
flags.DEFINE_string("style", str(SHARED / "starry_night.jpg"), "Style (optimization).")
flags.DEFINE_string("model", "models/starry_night.msgpack", "Trained network (fast).")
flags.DEFINE_integer("width", 128, "Frame width, px (height 3/4 of it).", lower_bound=16)
flags.DEFINE_integer("num_frames", 8, "Frames.", lower_bound=2)
flags.DEFINE_integer("pan_px", 4, "Pan speed, px per frame.", lower_bound=1)
flags.DEFINE_integer("num_steps", 60, "L-BFGS steps per frame.", lower_bound=1)
flags.DEFINE_integer("show", 4, "Frames shown per row of the figure.", lower_bound=1)
flags.DEFINE_list("methods", ["noise", "warm", "warm_shifted", "fast"], "What to compare.")
flags.DEFINE_string("output_dir", "experiments/results", "Where the figure and JSON go.")
FLAGS = flags.FLAGS


def run():
  started = time.time()
  width, height = FLAGS.width, FLAGS.width * 3 // 4
  photo = images.load_image(FLAGS.pan)
  need = width + FLAGS.pan_px * (FLAGS.num_frames - 1)
  scale = max(height / photo.shape[0], need / photo.shape[1])
  photo = images.resize_to(photo, max(height, round(photo.shape[0] * scale)),
                           max(need, round(photo.shape[1] * scale)))
  frames = video.pan_frames(photo, height=height, width=width, num_frames=FLAGS.num_frames,
                            shift=FLAGS.pan_px)
  style = images.load_image(FLAGS.style, width)
  weights = weights_lib.ensure_default()
  results, outputs = {}, {"input": frames}
  for method in FLAGS.methods:
    t0 = time.time()
    if method == "fast":
      model = fast.load_model(FLAGS.model)
      video.stylize_frames_fast(model, frames[:4])  # Compile outside the timing.
      t0 = time.time()
      out = video.stylize_frames_fast(model, frames)
    else:
      out = video.stylize_frames_optim(frames, style, mode=method, shift=FLAGS.pan_px,
                                       weights=weights, num_steps=FLAGS.num_steps)
    seconds = time.time() - t0
    outputs[method] = out
    results[method] = dict(video.temporal_instability(out, frames, FLAGS.pan_px),
                           seconds=seconds, ms_per_frame=1000 * seconds / len(frames))
    logging.info("%s: %s", method, results[method])
  tiles, labels = [], []
  for name, out in outputs.items():
    m = results.get(name)
    for t in range(min(FLAGS.show, len(out))):
      tiles.append(out[t])
      tag = f"{name} t={t}"
      if t == 1 and m:  # On the second tile: one tile's width holds only a short label.
        tag = f"t=1  raw {m['raw_ratio']:.2f} pop {m['compensated_ratio']:.2f}"
      labels.append(tag)
  out_dir = pathlib.Path(FLAGS.output_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  sheet = images.contact_sheet(tiles, labels, columns=min(FLAGS.show, len(frames)))
  images.save_image(sheet, out_dir / "fast_video.png")
  payload = {"experiment": "fast_video", "seconds": time.time() - started,
             "frames": len(frames), "height": height, "width": width, "pan_px": FLAGS.pan_px,
             "num_steps": FLAGS.num_steps, "pan": FLAGS.pan, "style": FLAGS.style,
             "model": FLAGS.model, "results": results}
  with atomic_path(out_dir / "fast_video.json") as tmp:
    pathlib.Path(tmp).write_text(json.dumps(payload, indent=1))
  print(json.dumps({k: {kk: round(v, 4) for kk, v in r.items()} for k, r in results.items()},
                   indent=1))


if __name__ == "__main__":
  app.run(common.main_wrapper(run))
