"""The coarse-to-fine schedule: the levels of a run, what each level sees, and how the
levels' results join.

With `scales` > 1 a run optimizes at 1/factor^(scales-1) of the size first, then at
each finer level from the coarser result upsampled (`ScheduleSettings`: how many
levels and steps). At a coarse level the style images shrink with the output
(`scaled_style`), so the style's strokes keep their size relative to the image, and the
masks are resized to it (`resized_mask`); a run's time limit is shared between the
levels by their work (`level_time_limit`); the levels' loss histories are joined into
one (`merged_histories`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jaxstyle.gatys import optimize
from jaxstyle.images import resize_to


def level_shapes(height: int, width: int, scales: int, factor: float = 2.0
                 ) -> list[tuple[int, int]]:
  """(h, w) of each level, coarsest first, dividing the size by `factor` per level.
  ValueError if the coarsest is under 16 px a side."""
  shapes = []
  for k in range(scales - 1, -1, -1):
    f = factor**-k
    shapes.append((max(1, round(height * f)), max(1, round(width * f))))
  if min(shapes[0]) < 16:
    raise ValueError(f"with {scales} scales the coarsest image is {shapes[0][1]}x"
                     f"{shapes[0][0]} px; at least 16 px per side: use fewer scales")
  return shapes


def scaled_style(style: np.ndarray, factor: float) -> np.ndarray:
  """The style image shrunk with the output at a coarse level, but kept >= 16 px a side."""
  h, w = style.shape[:2]
  factor = max(factor, min(1.0, 16.0 / min(h, w)))
  if factor == 1.0:
    return style
  return resize_to(style, max(16, round(h * factor)), max(16, round(w * factor)))


def resized_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
  """A mask [H, W] at a level's size [h, w] (bilinear, as the images)."""
  return resize_to(np.repeat(mask[..., None], 3, -1), h, w)[..., 0]


def level_time_limit(time_limit: float | None, shapes: Sequence[tuple[int, int]],
                     steps: Sequence[int], level: int,
                     done: Sequence[optimize.MinimizeResult]) -> float | None:
  """The seconds left of `time_limit` for `level`, shared with the levels after it in
  proportion to their work (pixels x steps); the finished levels' optimization time
  (after each one's compiling first call) is spent."""
  if time_limit is None:
    return None
  used = sum(float(r.history["time"][-1] - r.history["time"][1]) for r in done
             if len(r.history["time"]) > 1)
  work = [h * w * n for (h, w), n in zip(shapes, steps)]
  return max(time_limit - used, 1e-3) * work[level] / sum(work[level:])


def merged_histories(results: Sequence[optimize.MinimizeResult]) -> dict[str, np.ndarray]:
  """The levels' histories as one: later levels continue the clock and drop their
  repeated start."""
  merged = [dict(results[0].history)]
  for r in results[1:]:
    history = {k: v[1:] for k, v in r.history.items()}
    history["time"] = history["time"] + merged[-1]["time"][-1]
    merged.append(history)
  return {k: np.concatenate([h[k] for h in merged]) for k in merged[0]}
