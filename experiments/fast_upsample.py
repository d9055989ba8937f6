r"""Upsampling by nearest-neighbour + convolution vs transposed convolution (checkerboard).

  python -m experiments.fast_upsample      # 2 small networks x 120 steps: ~2 min on 2 CPU cores

Trains the same network twice, with the paper's fractionally-strided (transposed) 3x3
convolutions and with nearest-neighbour 2x upsampling followed by a 3x3 convolution
(Odena, Dumoulin & Olah 2016), and shows each output with a 4x nearest-neighbour
zoom of its centre. Measures a "checkerboard" number per output: the mean absolute
period-2 component |y00 - y01 - y10 + y11| / 4 over 2x2 cells, relative to the same
number for the input photo. Small networks, short training: see fast_common.py.

Expect: the transposed convolution's outputs show a regular grid pattern in the
zoom and a larger checkerboard number; nearest + conv shows none.
"""

import numpy as np
from absl import app, logging

from experiments import common, fast_common


def checkerboard(image: np.ndarray) -> float:
  """Mean |y00 - y01 - y10 + y11| / 4 over the 2x2 cells of [H, W, C]."""
  h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
  y = np.asarray(image[:h, :w], np.float64)
  return float(np.mean(np.abs(y[0::2, 0::2] - y[0::2, 1::2] - y[1::2, 0::2] + y[1::2, 1::2]))
               / 4)


def zoom(image: np.ndarray, size: int = 40, factor: int = 4) -> np.ndarray:
  h, w = image.shape[:2]
  y, x = (h - size) // 2, (w - size) // 2
  crop = image[y:y + size, x:x + size]
  return np.repeat(np.repeat(crop, factor, 0), factor, 1)


def run():
  rec = fast_common.FastRecorder("fast_upsample")
  scores = {}
  for upsample in ("transpose", "nearest"):
    label = "transposed conv" if upsample == "transpose" else "nearest + conv"
    model = rec.train(label, fast_common.train_config(fast_common.net_config(
        upsample=upsample)))
    outs = fast_common.stylize(model, rec.tests)
    scores[label] = [checkerboard(o) / checkerboard(p) for o, p in zip(outs, rec.tests)]
    logging.info("%s: checkerboard / photo's = %s", label, scores[label])
    for i, out in enumerate(outs):
      rec.add(out, f"{label}, photo {i + 1} ({scores[label][i]:.2f})")
      rec.add(zoom(out), f"{label}, photo {i + 1}, 4x zoom")
  rec.write(columns=2 * len(rec.tests), extra={"checkerboard_relative_to_photo": scores})


if __name__ == "__main__":
  fast_common.define_flags()
  app.run(common.main_wrapper(run))
