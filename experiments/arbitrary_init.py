r"""Gatys et al.'s optimization started from the arbitrary-style network's output.

  python -m experiments.arbitrary_init                # 256 and 512 px: 18 min on 2 CPU cores
  python -m experiments.arbitrary_init --sizes=256    # 6 min

The gatys2016 settings through the API (normalized VGG-19, average pooling, alpha/beta =
--ratio = 1e-3, L-BFGS with jaxstyle's defaults), Tübingen x The Starry Night. At each
--sizes: white noise runs --noise_steps (300) steps; its best loss is the target. Then
init="arbitrary" (the photo stylized by the arbitrary-style network, Ghiasi et al. 2017)
and init="content" run up to --max_steps each, and for every start the steps and the
seconds to the target are read from the loss history (seconds from the `stylize` call:
the targets, the starting image, compilation and every step up to it), with the ratios
to white noise's; a start that never reaches the target reports its best loss. Each
size first compiles everything (a 3-step run and one pass of the network, discarded),
so that no start pays compilation the others do not.
Writes experiments/results/arbitrary_init.json and --figure (a JPEG: the three starts
and their results at the largest size).

Expect (measured, experiments/README.md): the network's output has the lowest style loss
of the three starts but a content loss (conv4_2) nearly as large as white noise's, and
at alpha/beta = 1e-3 the content term dominates: from it the target takes 0.70x white
noise's steps at 256 px and is not reached in 300 steps at 512 px (best 1.06x the
target), while the content photo reaches it in 0.45x and 0.04x the steps. All three
results look like the photo with a light texture; the network's brushwork is undone.
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags, logging

from experiments import common
from jaxstyle.gatys import start, transfer
from jaxstyle.weights import arbitrary as arbitrary_weights_lib

flags.DEFINE_list("sizes", ["256", "512"], "Longer sides, px, ascending.")
flags.DEFINE_integer("noise_steps", 300, "White noise's steps; its best loss is the target.")
flags.DEFINE_integer("max_steps", 300, "The other starts' steps at most.")
flags.DEFINE_string("figure", "docs/arbitrary_init.jpg", "The figure (JPEG).")
FLAGS = flags.FLAGS

INITS = ("noise", "arbitrary", "content")


def _to_target(history: dict, wall_s: float, target: float) -> dict:
  """Steps and seconds to the first loss <= target (None if never), and the best loss."""
  total = np.asarray(history["total"])[:, 0]
  times = np.asarray(history["time"])
  setup_s = wall_s - float(times[-1])  # Before the optimization's clock starts.
  reached = np.nonzero(total <= target)[0]
  out = {"initial_loss": float(total[0]), "best_loss": float(total.min()),
         "final_loss": float(total[-1]), "steps_run": int(len(total) - 1),
         "setup_s": setup_s, "wall_s": wall_s, "steps_to_target": None,
         "seconds_to_target": None}
  if len(reached):
    k = int(reached[0])
    out.update(steps_to_target=k, seconds_to_target=setup_s + float(times[k]))
  return out


def run():
  weights = common.load_weights()
  arbitrary_weights = arbitrary_weights_lib.ensure_default(log=logging.info)
  sizes = sorted(int(s) for s in FLAGS.sizes)
  started = time.time()
  results, tiles, labels = {}, [], []
  for size in sizes:
    content, style = common.load(FLAGS.content, size), common.load(FLAGS.style, size)
    row, finals, starts = {}, {}, {}
    t0 = time.perf_counter()
    transfer.stylize(content, style, weights=weights, num_steps=3, log_every=0, init="noise",
                     scales=1, **common.paper())
    start.arbitrary_start(arbitrary_weights, content, style)
    logging.info("%d px: compiled in %.1f s", size, time.perf_counter() - t0)
    for init in INITS:
      steps = FLAGS.noise_steps if init == "noise" else FLAGS.max_steps
      t0 = time.perf_counter()
      result = transfer.stylize(content, style, weights=weights, init=init, scales=1,
                                arbitrary_weights=arbitrary_weights, num_steps=steps,
                                log_every=FLAGS.log_every or 50, **common.paper())
      wall = time.perf_counter() - t0
      if init == "noise":
        target = float(np.asarray(result.history["total"])[:, 0].min())
      row[init] = _to_target(result.history, wall, target)
      row[init]["history"] = {k: np.asarray(v).tolist() for k, v in result.history.items()}
      finals[init] = result.images[0]
      if size == sizes[-1]:
        starts[init] = (start.noise_images([0], content.shape)[0] if init == "noise"
                        else start.arbitrary_start(arbitrary_weights, content, style)
                        if init == "arbitrary" else content)
      logging.info("%d px %s: %s", size, init, {k: v for k, v in row[init].items()
                                                 if k != "history"})
    noise = row["noise"]
    for init in INITS:
      r = row[init]
      if r["steps_to_target"] is not None:
        r["steps_ratio_vs_noise"] = r["steps_to_target"] / noise["steps_to_target"]
        r["seconds_ratio_vs_noise"] = r["seconds_to_target"] / noise["seconds_to_target"]
      else:
        r["best_loss_over_target"] = r["best_loss"] / target
    results[str(size)] = {"image": [int(content.shape[1]), int(content.shape[0])],
                          "target_loss": target, "runs": row}
    if size == sizes[-1]:
      for init in INITS:
        tiles.append(np.clip(np.asarray(starts[init]), 0, 1))
        labels.append(f"start: {init}")
      for init in INITS:
        r = row[init]
        reached = (f"target in {r['steps_to_target']} steps" if r["steps_to_target"] is not None
                   else f"best {r['best_loss_over_target']:.2f}x target")
        tiles.append(finals[init])
        labels.append(f"{init}, {r['steps_run']} steps ({reached})")
  common.write_figure("arbitrary_init", tiles, labels, started, {
      "settings": dict(common.paper(), optimizer="lbfgs", ratio=FLAGS.ratio,
                       noise_steps=FLAGS.noise_steps, max_steps=FLAGS.max_steps,
                       content=FLAGS.content, style=FLAGS.style),
      "weights": dict(weights.meta, preprocessing=weights.preprocessing),
      "arbitrary_weights": dict(arbitrary_weights.meta), "sizes": results},
      columns=3, figure=FLAGS.figure)

if __name__ == "__main__":
  common.define_flags()
  app.run(common.main_wrapper(run))
