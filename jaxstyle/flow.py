"""Optical flow for video style transfer: estimating it, warping by it, trusting it.

Ruder, Dosovitskiy & Brox's temporal loss (GCPR 2016, "Artistic style transfer for
videos") asks the stylized frame t to agree with the previous stylized frame warped into
frame t, except where the flow cannot be trusted; Lai et al.'s warping error (ECCV 2018,
"Learning blind video temporal consistency") measures the same agreement on a finished
clip. This module holds the pieces both need:

- `optical_flow`: dense flow between two frames, with OpenCV's DIS (Kroeger et al., ECCV
  2016: what the method uses) or Farneback (2003: what the metric uses, so that the
  metric does not share the method's flow errors);
- `warp`: bilinear backward warping in JAX (jit-able);
- `reliability`: Ruder et al.'s forward-backward consistency and motion-boundary check
  (their consistencyChecker, manuelruder/artistic-videos);
- `flows_for`: the backward flow and its reliability for one pair, as frames stream in;
- `warping_error`: Lai et al.'s metric.

Conventions, everywhere in this module:

- Frames are float32 RGB [H, W, 3] in [0, 1]; a pixel x = (column, row).
- A flow is float32 [H, W, 2] on one frame's grid: flow[row, col] = (dx, dy) in pixels,
  dx along columns (right is +), dy along rows (down is +); OpenCV's layout.
- `optical_flow(a, b)` is the flow *from a to b* on a's grid: the pixel x of a is seen at
  x + flow(x) in b, so b(x + flow(x)) ~ a(x).
- `warp(image, flow)(x) = image(x + flow(x))`: backward warping, the output on flow's grid.
  To carry frame t-1 (or its stylized version) into frame t:
  warp(frame[t-1], optical_flow(frame[t], frame[t-1])) ~ frame[t]. The flow is the
  *backward* flow (from t to t-1), computed on frame t's grid.

The optional `video` extra brings OpenCV (pip install 'jaxstyle[video]'); `warp` needs only
JAX.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import images as images_lib
from jaxstyle.errors import UserError

# Ruder et al.'s coefficients, which they take from Sundaram, Brox & Keutzer (ECCV 2010).
OCCLUSION_RELATIVE, OCCLUSION_ABSOLUTE = 0.01, 0.5
BOUNDARY_RELATIVE, BOUNDARY_ABSOLUTE = 0.01, 0.002


# --- Estimating flow (OpenCV, on the host) ----------------------------------------------


def _cv2():
  try:
    import cv2  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("optical flow needs OpenCV, in the video extra: "
                    "pip install 'jaxstyle[video]'") from None
  return cv2


def _gray(frame: np.ndarray) -> np.ndarray:
  """A float RGB frame [H, W, 3] in [0, 1] as the 8-bit gray image OpenCV's flows take."""
  cv2 = _cv2()
  return cv2.cvtColor(images_lib.to_uint8(frame), cv2.COLOR_RGB2GRAY)


def _dis(gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
  # The MEDIUM preset: 8 px patches every 3 px, 25 descent iterations, down to half
  # resolution, then variational refinement. FAST and ULTRAFAST (patches every 4 px, down
  # to a quarter) are less accurate on real frames, and the flow costs little beside
  # stylizing a frame either way.
  cv2 = _cv2()
  return cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM).calc(gray_a, gray_b, None)


def _farneback(gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
  # OpenCV's tutorial settings: a 3-level pyramid halving each time, 15 px windows,
  # 3 iterations, polynomials fitted over 5 px with sigma 1.2.
  return _cv2().calcOpticalFlowFarneback(gray_a, gray_b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


FLOW_METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "dis": _dis, "farneback": _farneback}


def optical_flow(frame_a: np.ndarray, frame_b: np.ndarray, method: str = "dis"
                 ) -> np.ndarray:
  """The flow [H, W, 2] (dx, dy) from frame_a to frame_b, on frame_a's grid.

  frame_b(x + flow(x)) ~ frame_a(x): where each pixel of frame_a went in frame_b. For a
  scene moving 2 px right from a to b, flow = (+2, 0). Frames: RGB [H, W, 3] in [0, 1],
  compared in 8-bit gray. method: "dis" (OpenCV's DIS, MEDIUM preset) or "farneback".
  """
  if method not in FLOW_METHODS:
    raise ValueError(f"flow method must be one of {sorted(FLOW_METHODS)}, got {method!r}")
  frame_a, frame_b = np.asarray(frame_a), np.asarray(frame_b)
  if frame_a.shape != frame_b.shape or frame_a.ndim != 3 or frame_a.shape[-1] != 3:
    raise ValueError(f"frames must be two RGB [H, W, 3] of one shape, got {frame_a.shape} "
                     f"and {frame_b.shape}")
  flow = FLOW_METHODS[method](_gray(frame_a), _gray(frame_b))
  return np.asarray(flow, np.float32)


# --- Warping (JAX) ----------------------------------------------------------------------


def _warp_one(image: jax.Array, flow: jax.Array) -> tuple[jax.Array, jax.Array]:
  h, w = image.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                            jnp.arange(w, dtype=jnp.float32), indexing="ij")
  x, y = cols + flow[..., 0], rows + flow[..., 1]
  valid = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
  x, y = jnp.clip(x, 0, w - 1), jnp.clip(y, 0, h - 1)
  x0, y0 = jnp.floor(x), jnp.floor(y)
  ax, ay = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  x1, y1 = jnp.minimum(x0 + 1, w - 1), jnp.minimum(y0 + 1, h - 1)
  top = (1 - ax) * image[y0, x0] + ax * image[y0, x1]
  bottom = (1 - ax) * image[y1, x0] + ax * image[y1, x1]
  return (1 - ay) * top + ay * bottom, valid


def warp(image: jax.Array, flow: jax.Array, *, with_valid: bool = False
         ) -> jax.Array | tuple[jax.Array, jax.Array]:
  """Backward warping: out(x) = image(x + flow(x)), bilinear, on flow's grid.

  To bring frame t-1 (or its stylized version) into frame t, pass the backward flow,
  from frame t to frame t-1, computed on frame t's grid:
  warp(prev, optical_flow(frame_t, frame_t_minus_1)).

  Args:
    image: [H, W, C] or a batch [N, H, W, C].
    flow: [H, W, 2] (dx, dy) in pixels (`optical_flow`'s convention), or [N, H, W, 2]
      for a batch; one [H, W, 2] flow serves a whole batch.
    with_valid: also return where x + flow(x) lies inside the frame, i.e. within its
      pixels' area: -0.5 <= x <= W - 0.5, -0.5 <= y <= H - 0.5 (pixel centres at
      integers). Samples beyond the outer pixel centres are clamped to the border pixel.

  Returns:
    The warped image, shaped as `image`; with `with_valid`, and a boolean mask [H, W]
    ([N, H, W] for a batch).
  """
  image, flow = jnp.asarray(image), jnp.asarray(flow, jnp.float32)
  if (image.ndim not in (3, 4) or flow.ndim not in (3, image.ndim) or flow.shape[-1] != 2
      or flow.shape[-3:-1] != image.shape[-3:-1]):
    raise ValueError(f"warp needs an image [(N,) H, W, C] and a flow [(N,) H, W, 2] of its "
                     f"size, got {image.shape} and {flow.shape}")
  if image.ndim == 3:
    out, valid = _warp_one(image, flow)
  else:
    out, valid = jax.vmap(_warp_one, in_axes=(0, 0 if flow.ndim == 4 else None))(image, flow)
  return (out, valid) if with_valid else out


_warp_jit = jax.jit(warp, static_argnames="with_valid")


# --- Which flow to trust (NumPy, on the host) -------------------------------------------


def _central_differences(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """d/dx, d/dy of a [H, W, ...] as (a[x+1] - a[x-1]) / 2, the border pixel repeated."""
  p = np.pad(a, [(1, 1), (1, 1)] + [(0, 0)] * (a.ndim - 2), mode="edge")
  return (p[1:-1, 2:] - p[1:-1, :-2]) / 2, (p[2:, 1:-1] - p[:-2, 1:-1]) / 2


def reliability(flow_backward: np.ndarray, flow_forward: np.ndarray) -> np.ndarray:
  """Ruder et al.'s weights c [H, W] float32 in {0, 1}, on flow_backward's grid (frame t).

  flow_backward: w_hat, from frame t to frame t-1, on frame t's grid (`warp`'s flow).
  flow_forward: w_tilde, from frame t-1 to frame t, on frame t-1's grid. (In general: c
  on frame A's grid, for flow_backward from A to B and flow_forward from B to A.)

  With w_tilde sampled (bilinear) at x + w_hat(x), c(x) = 0 where
  - x + w_hat(x) leaves the frame (new content);
  - the flows disagree (occlusion):
    |w_tilde + w_hat|^2 > 0.01 (|w_tilde|^2 + |w_hat|^2) + 0.5;
  - w_hat = (u, v) has a motion boundary:
    |grad u|^2 + |grad v|^2 > 0.01 |w_hat|^2 + 0.002, the gradients by central
    differences ((f[x+1] - f[x-1]) / 2, their CDerivative(3)), the border pixel repeated;
  and 1 elsewhere. Departs from their consistencyChecker in two places: it then blurs c
  (Gaussian, sigma 0.8) into [0, 1], here c stays binary; and it calls x + w_hat(x)
  outside unless both bilinear neighbours are in the frame ([0, W - 1) x [0, H - 1)),
  here outside is beyond the pixels' area (`warp`'s with_valid), so that a static
  camera's flow, a hair below 0 at the border, does not mark the border unreliable.
  """
  back = np.asarray(flow_backward, np.float32)
  fwd = np.asarray(flow_forward, np.float32)
  if back.shape != fwd.shape or back.ndim != 3 or back.shape[-1] != 2:
    raise ValueError(f"flows must be two [H, W, 2] of one shape, got {back.shape} and "
                     f"{fwd.shape}")
  fwd_at, inside = (np.asarray(a) for a in _warp_jit(fwd, back, with_valid=True))
  back_sq = np.sum(np.square(back), -1)
  disagree = np.sum(np.square(fwd_at + back), -1) > (
      OCCLUSION_RELATIVE * (np.sum(np.square(fwd_at), -1) + back_sq) + OCCLUSION_ABSOLUTE)
  d_dx, d_dy = _central_differences(back)
  edge = np.sum(np.square(d_dx) + np.square(d_dy), -1) > (
      BOUNDARY_RELATIVE * back_sq + BOUNDARY_ABSOLUTE)
  return (inside & ~disagree & ~edge).astype(np.float32)


class FlowPair(NamedTuple):
  """What carries one stylized frame into the next: see `flows_for`."""
  backward: np.ndarray  # [H, W, 2] from frame t to frame t-1, on frame t's grid.
  reliable: np.ndarray  # [H, W] in {0, 1} on frame t's grid: `reliability`.


def flows_for(frame_prev: np.ndarray, frame_cur: np.ndarray, method: str = "dis"
              ) -> FlowPair:
  """The backward flow (frame_cur to frame_prev, on frame_cur's grid) and its reliability.

  warp(stylized_prev, pair.backward) is the previous result carried into frame_cur; the
  temporal loss compares it with the new result where pair.reliable is 1. One pair at a
  time, so a stream of frames needs only the last one kept.
  """
  backward = optical_flow(frame_cur, frame_prev, method)
  forward = optical_flow(frame_prev, frame_cur, method)
  return FlowPair(backward, reliability(backward, forward))


# --- Lai et al.'s warping error ---------------------------------------------------------


class MetricFlow(NamedTuple):
  """The warping error's view of one pair of input frames: see `metric_flows`."""
  forward: np.ndarray  # [H, W, 2] from input frame t to t+1, on frame t's grid.
  mask: np.ndarray  # [H, W] float64: 1 where that flow is trusted (`reliability`).


def metric_flows(inputs: np.ndarray, method: str = "farneback") -> list[MetricFlow]:
  """The flow and occlusion mask of each consecutive pair of the *input* clip [T, H, W, 3]
  that Lai et al.'s warping error measures with (`method`'s; Farneback by default, not
  the DIS flow the methods are given): computed once, they serve every output of the
  clip (`warping_errors(..., flows=)`)."""
  flows = []
  for frame, frame_next in zip(inputs[:-1], inputs[1:]):
    forward = optical_flow(frame, frame_next, method)
    mask = reliability(forward, optical_flow(frame_next, frame, method))
    flows.append(MetricFlow(forward, mask.astype(np.float64)))
  return flows


def warping_error_map(output: np.ndarray, output_next: np.ndarray, pair: MetricFlow
                      ) -> tuple[np.ndarray, np.ndarray]:
  """One pair's term of Lai et al.'s warping error, per pixel of frame t's grid.

  Returns (squared, mask), both [H, W] float64: |O_t(x) - O_{t+1}(x + f(x))|^2 averaged
  over the 3 channels, and M, with f and M the input pair's (`metric_flows`). The
  pair's error is sum(M * squared) / sum(M).
  """
  warped = np.asarray(_warp_jit(np.asarray(output_next, np.float32), pair.forward))
  squared = np.mean(np.square(np.asarray(output, np.float64) - warped), -1)
  return squared, pair.mask


def warping_errors(outputs: np.ndarray, inputs: np.ndarray, method: str = "farneback", *,
                   flows: list[MetricFlow] | None = None) -> np.ndarray:
  """Lai et al.'s warping error of each consecutive pair: [T - 1] float64.

  E_t = sum_x M(x) |O_t(x) - O_{t+1}(x + f(x))|^2 / sum_x M(x), the squared difference
  averaged over the 3 channels, where f is the flow from input frame t to t+1 (on t's
  grid) and M = `reliability(f, flow from t+1 to t)`, both from the *input* clip with
  `method` (Farneback by default: not the DIS flow the method itself was given;
  `warping_error_map` is one pair's term per pixel). outputs, inputs: [T, H, W, 3] in
  [0, 1]; flows: the inputs' `metric_flows`, if already computed. A pair with no
  reliable pixel counts 0 (as in Lai et al.'s code).
  """
  outputs = np.asarray(outputs, np.float32)
  inputs = np.asarray(inputs, np.float32)
  if outputs.shape != inputs.shape or outputs.ndim != 4 or outputs.shape[-1] != 3:
    raise ValueError(f"outputs and inputs must be clips [T, H, W, 3] of one shape, got "
                     f"{outputs.shape} and {inputs.shape}")
  if len(inputs) < 2:
    raise ValueError("the warping error needs at least two frames")
  if flows is None:
    flows = metric_flows(inputs, method)
  elif len(flows) != len(inputs) - 1:
    raise ValueError(f"{len(flows)} metric flows for {len(inputs)} frames")
  errors = []
  for t, pair in enumerate(flows):
    squared, mask = warping_error_map(outputs[t], outputs[t + 1], pair)
    errors.append(np.sum(mask * squared) / max(np.sum(mask), 1.0))
  return np.asarray(errors)


def warping_error(outputs: np.ndarray, inputs: np.ndarray, method: str = "farneback", *,
                  flows: list[MetricFlow] | None = None) -> float:
  """Lai et al.'s warping error of a stylized clip: the mean of `warping_errors`.

  outputs, inputs: [T, H, W, 3] in [0, 1]. 0 for a perfectly stable output; the input
  clip's own error (outputs = inputs) is the floor the flow's errors leave.
  """
  return float(np.mean(warping_errors(outputs, inputs, method, flows=flows)))
