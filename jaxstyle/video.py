"""Stylizing video: the feed-forward network, or optimization per frame, and flicker.

The command is `jaxstyle-video` (jaxstyle/cli/video.py). Methods: `fast` runs the
trained network on each frame; `arbitrary` runs the arbitrary-style network (Ghiasi et
al. 2017, `jaxstyle.arbitrary`) on each frame with one style; `noise` optimizes each frame
from the same white-noise start (Gatys et al. per frame); `warm` starts each frame's
optimization from the previous frame's result (the first from noise); `warm_shifted`
does the same after moving the previous result by the pan's known motion (only with
--pan); `temporal` is Ruder, Dosovitskiy & Brox's (GCPR 2016): each frame starts from
the previous result warped by the optical flow between the input frames and is held
to it, where the flow is reliable, by a temporal loss (`jaxstyle.flow`,
`losses.temporal_loss`, the objective's temporal_weight). The flicker of any clip is
measured by Lai et al.'s warping error (`flow.warping_error`), beside the input's own.

Frames come from a directory of images (sorted by name) or, with the optional
`video` extra (pip install 'jaxstyle[video]': imageio + imageio-ffmpeg), a video file.
`--pan=PHOTO` instead synthesizes a camera pan over a photo: crop windows sliding
--pan_px px right per frame, so the true motion is known and the temporal
instability can be measured (`temporal_instability`).
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Callable

import numpy as np
from absl import logging

from jaxstyle import images as images_lib
from jaxstyle._atomic import OutputError, write_or_keep
from jaxstyle.errors import UserError

METHODS = ("fast", "arbitrary", "noise", "warm", "warm_shifted", "temporal")
OPTIMIZATION_MODES = ("noise", "warm", "warm_shifted", "temporal")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")


# --- A camera pan with known motion, and the flicker metrics ----------------------------


def pan_frames(image: np.ndarray, *, height: int, width: int, num_frames: int,
               shift: int) -> np.ndarray:
  """Crops [T, height, width, 3] of `image` whose window moves `shift` px right per frame.

  The scene therefore moves `shift` px left per frame: frame[t + 1][:, x] ==
  frame[t][:, x + shift].
  """
  h, w = image.shape[:2]
  need = width + shift * (num_frames - 1)
  if height > h or need > w:
    raise ValueError(f"a {num_frames}-frame pan of {width}x{height} px by {shift} px/frame "
                     f"needs an image at least {need}x{height}, got {w}x{h}")
  y0 = (h - height) // 2
  x0 = (w - need) // 2
  return np.stack([image[y0:y0 + height, x0 + t * shift: x0 + t * shift + width]
                   for t in range(num_frames)]).astype(np.float32)


def mean_frame_difference(frames: np.ndarray) -> float:
  """Mean absolute difference of consecutive frames [T, H, W, C] (T >= 2)."""
  frames = np.asarray(frames, np.float64)
  if frames.shape[0] < 2:
    raise ValueError("need at least two frames")
  return float(np.mean(np.abs(frames[1:] - frames[:-1])))


def compensated_difference(frames: np.ndarray, shift: int) -> float:
  """Like `mean_frame_difference`, after undoing a known pan of `shift` px per frame.

  Compares frame t+1 with frame t moved `shift` px left, over their overlap: what
  remains is change the motion does not explain ("popping").
  """
  frames = np.asarray(frames, np.float64)
  if frames.shape[0] < 2:
    raise ValueError("need at least two frames")
  w = frames.shape[2]
  if not 0 <= shift < w:
    raise ValueError(f"shift must be in [0, {w}), got {shift}")
  return float(np.mean(np.abs(frames[1:, :, :w - shift] - frames[:-1, :, shift:])))


def temporal_instability(outputs: np.ndarray, inputs: np.ndarray, shift: int) -> dict:
  """Flicker of stylized `outputs` of input `inputs` panning `shift` px per frame.

  Returns:
    raw_ratio: mean |out[t+1] - out[t]| / mean |in[t+1] - in[t]| (1 ~ changes as much
      as the video does).
    compensated_ratio: the output's motion-compensated difference divided by the
      input's raw difference: how much the output changes beyond the known motion,
      relative to how much the video changes (0 = perfectly stable).
    and the four differences themselves (raw_out, raw_in, compensated_out,
    compensated_in; compensated_in is 0 for an exact pan).
  """
  raw_out, raw_in = mean_frame_difference(outputs), mean_frame_difference(inputs)
  comp_out = compensated_difference(outputs, shift)
  comp_in = compensated_difference(inputs, shift)
  return {"raw_out": raw_out, "raw_in": raw_in, "compensated_out": comp_out,
          "compensated_in": comp_in, "raw_ratio": raw_out / raw_in if raw_in else float("inf"),
          "compensated_ratio": comp_out / raw_in if raw_in else float("inf")}


def shift_left(image: np.ndarray, shift: int, fill: np.ndarray) -> np.ndarray:
  """`image` [H, W, 3] moved `shift` px left; the uncovered right strip from `fill`."""
  if shift == 0:
    return np.asarray(image)
  out = np.array(fill, np.float32, copy=True)
  out[:, :-shift] = image[:, shift:]
  return out


def mean_gradient_magnitude(frames: np.ndarray) -> float:
  """Sharpness: the mean |grad| of frames [T, H, W, C] (forward differences, per channel),
  to see what a temporal blend costs in detail."""
  frames = np.asarray(frames, np.float64)
  dy = frames[:, 1:, :-1] - frames[:, :-1, :-1]
  dx = frames[:, :-1, 1:] - frames[:, :-1, :-1]
  return float(np.mean(np.sqrt(np.square(dx) + np.square(dy))))


def frame_losses(outputs: np.ndarray, frames: np.ndarray, style: np.ndarray, *, weights,
                 config=None) -> dict[str, np.ndarray]:
  """The Gatys objective's content and style losses of each output frame, [T] each:
  against its input frame and `style` (at the size given), with `config`'s objective
  (a `StylizeConfig`; None: the defaults), so that every method, optimized or not, is
  judged by one measure."""
  import jax  # pylint: disable=import-outside-toplevel
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import objective  # pylint: disable=import-outside-toplevel
  config = config or config_lib.StylizeConfig()
  settings = config.objective.resolve(features.network_of(weights))
  kernels = config.backend.kernels
  loss_fn = jax.jit(objective.make_loss_fn(settings, weights, kernels=kernels))
  variables = features.network_variables(weights, kernels, settings.all_layers)
  losses = {"content": [], "style": []}
  for output, frame in zip(np.asarray(outputs, np.float32), np.asarray(frames, np.float32)):
    targets = objective.compute_targets(frame, [style], settings, weights, kernels=kernels)
    parts = loss_fn(output, targets, variables)[1]
    for name in losses:
      losses[name].append(float(parts[name]))
  return {name: np.asarray(v) for name, v in losses.items()}


def blend_with_previous(outputs: np.ndarray, frames: np.ndarray, strength: float, *,
                        flow_method: str = "dis") -> np.ndarray:
  """The real-time methods' temporal filter: each output frame blended with the previous
  blended frame warped into it, where the flow between the input frames is reliable.

  out'[t] = out[t] + strength * c * (warp(out'[t-1]) - out[t]), c = `flow.reliability`
  of the backward flow from input t to t-1 (`flow.flows_for`), so occluded and new
  regions keep the network's output and static ones stop flickering; strength in
  [0, 1] (0: the outputs unchanged; 1: reliable pixels only follow the flow). A cheap
  post-process in the spirit of Lai et al. (ECCV 2018), computed as frames stream.
  """
  from jaxstyle import flow  # pylint: disable=import-outside-toplevel
  if not 0 <= strength <= 1:
    raise ValueError(f"the blend strength must be in [0, 1], got {strength}")
  outputs = np.asarray(outputs, np.float32)
  if outputs.shape != np.shape(frames):
    raise ValueError(f"outputs {outputs.shape} and frames {np.shape(frames)} differ")
  blended = [outputs[0]]
  for t in range(1, len(outputs)):
    pair = flow.flows_for(frames[t - 1], frames[t], flow_method)
    previous = np.asarray(flow.warp(blended[-1], pair.backward))
    weight = strength * pair.reliable[..., None]
    blended.append(outputs[t] + weight * (previous - outputs[t]))
  return np.stack(blended)


# --- Stylizing a sequence ---------------------------------------------------------------


def stylize_frames_fast(model, frames: np.ndarray, *, batch_size: int = 4, **kwargs
                        ) -> np.ndarray:
  """Every frame [T, H, W, 3] through the feed-forward network, `batch_size` at a time.

  The last batch is padded (with its last frame) to `batch_size`, so one program serves
  every batch. kwargs (kernels, precision) go to `johnson.stylize_fast`.
  """
  from jaxstyle.johnson.inference import stylize_fast  # pylint: disable=import-outside-toplevel
  return _in_padded_batches(lambda batch: stylize_fast(model, batch, **kwargs), frames,
                            batch_size)


def stylize_frames_arbitrary(weights, frames: np.ndarray, style: np.ndarray, *,
                             batch_size: int = 4, style_size: int = 256, **kwargs
                             ) -> np.ndarray:
  """Every frame [T, H, W, 3] through the arbitrary-style network with one style: an
  image [H', W', 3] or a style vector [100] (`jaxstyle.arbitrary.style_vector`).

  Batches as `stylize_frames_fast`; kwargs (kernels, precision) go to
  `jaxstyle.arbitrary.transform`.
  """
  from jaxstyle import arbitrary  # pylint: disable=import-outside-toplevel
  style = np.asarray(style, np.float32)
  vector = style if style.ndim == 1 else arbitrary.style_vector(weights, style, style_size,
                                                                **kwargs)
  return _in_padded_batches(lambda batch: arbitrary.transform(weights, batch, vector, **kwargs),
                            frames, batch_size)


def _in_padded_batches(apply: Callable[[np.ndarray], np.ndarray], frames: np.ndarray,
                       batch_size: int) -> np.ndarray:
  """apply(batch) over frames [T, H, W, 3], batch_size at a time; the last batch is
  padded with its last frame, so one compiled program serves every batch."""
  frames = np.asarray(frames, np.float32)
  batch_size = min(batch_size, len(frames))
  outputs = []
  for i in range(0, len(frames), batch_size):
    batch = frames[i:i + batch_size]
    n = len(batch)
    if n < batch_size:
      batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)])
    outputs.append(np.asarray(apply(batch))[:n])
  return np.concatenate(outputs)


def stylize_frames_optim(frames: np.ndarray, style: np.ndarray, config=None, *,
                         mode: str = "warm", shift: int | None = None, seed: int = 0,
                         flow_method: str = "dis",
                         on_frame: Callable[[int, np.ndarray], None] | None = None,
                         **stylize_kwargs) -> np.ndarray:
  """Gatys et al. per frame: `mode` "noise" (same white-noise start every frame),
  "warm" (from the previous result; the first from noise), "warm_shifted" (the
  previous result moved by the known pan `shift`, the new strip from the frame) or
  "temporal" (Ruder et al.: from the previous result warped by the flow from this
  input frame to the previous one, `flow_method`'s, and held to it by the temporal
  term where that flow is reliable; the flow of one pair at a time, as frames stream).

  config (a `StylizeConfig`; None: the defaults) and `stylize_kwargs` go to
  `jaxstyle.stylize` (weights, num_steps, style_weight, temporal_weight, ...); each
  frame's init is the mode's. Ctrl-C or SIGTERM raises `FramesInterrupted` with the
  frames finished so far.
  """
  from jaxstyle import flow  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys.transfer import stylize  # pylint: disable=import-outside-toplevel
  if mode not in OPTIMIZATION_MODES:
    raise ValueError(f"mode must be one of {', '.join(OPTIMIZATION_MODES)}, got {mode!r}")
  if mode == "warm_shifted" and shift is None:
    raise ValueError("warm_shifted needs the pan's shift")
  if config is None:
    stylize_kwargs.setdefault("log_every", 0)
  outputs = []

  def stopped(reason: str) -> FramesInterrupted:
    finished = np.stack(outputs) if outputs else np.zeros((0, *np.shape(frames)[1:]), np.float32)
    return FramesInterrupted(f"{reason} in frame {len(outputs) + 1} of {len(frames)}", finished)

  try:
    for t, frame in enumerate(frames):
      temporal = None
      if t == 0 or mode == "noise":
        init = "noise"
      elif mode == "warm":
        init = outputs[-1]
      elif mode == "warm_shifted":
        init = shift_left(outputs[-1], shift, frame)
      else:
        pair = flow.flows_for(frames[t - 1], frame, flow_method)
        init = np.clip(np.asarray(flow.warp(outputs[-1], pair.backward)), 0.0, 1.0)
        temporal = (init, pair.reliable)
      result = stylize(frame, style, config=config, init=init, seed=seed, temporal=temporal,
                       **stylize_kwargs)
      if result.interrupted:
        raise stopped(result.stopped)
      outputs.append(result.images[0])
      if on_frame:
        on_frame(t, result.images[0])
  except FramesInterrupted:
    raise
  except KeyboardInterrupt:  # Outside an optimization (targets, compiling, on_frame).
    raise stopped("interrupted") from None
  return np.stack(outputs)


class FramesInterrupted(KeyboardInterrupt):
  """Ctrl-C or SIGTERM stopped `stylize_frames_optim`; `frames` [K, H, W, 3] are the
  K frames finished before it (the interrupted one is not among them)."""

  def __init__(self, message: str, frames: np.ndarray):
    super().__init__(message)
    self.frames = frames


# --- Frame I/O --------------------------------------------------------------------------


def _imageio():
  try:
    import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("reading and writing video files needs the video extra: "
                    "pip install 'jaxstyle[video]' (or use a directory of frames)") from None
  return iio


def read_frames(path: str | pathlib.Path, size: int | None = None,
                max_frames: int | None = None) -> tuple[np.ndarray, float]:
  """Frames [T, H, W, 3] in [0, 1] of a directory of images or a video file; and fps."""
  path = pathlib.Path(path)
  if path.is_dir():
    files = images_lib.find_images(path, what="frame directory")[:max_frames]
    frames = [images_lib.load_image(p, size) for p in files]
    fps = 24.0
  elif path.is_file():
    iio = _imageio()
    try:
      frames = []
      for i, frame in enumerate(iio.imiter(path)):
        if max_frames is not None and i >= max_frames:
          break
        frame = np.asarray(frame)[..., :3].astype(np.float32) / 255.0
        frames.append(frame if size is None else images_lib.resize(frame, size))
      fps = float(iio.immeta(path).get("fps", 24.0))
    except Exception as e:  # pylint: disable=broad-except
      raise UserError(f"cannot read video {path}: {e}") from None
    if not frames:
      raise UserError(f"{path} holds no frames")
  else:
    raise UserError(f"{path}: no such file or directory")
  shapes = {f.shape for f in frames}
  if len(shapes) > 1:
    raise UserError(f"frames of {path} differ in size: {sorted(shapes)}")
  return np.stack(frames), fps


def write_frames(frames: np.ndarray, path: str | pathlib.Path, fps: float = 24.0,
                 ext: str = ".png") -> pathlib.Path:
  """Writes frames to a directory (frame_00000.png, ...) or a video file (by suffix).

  Raises:
    OutputError: `path` could not be written (e.g. no space left); the video, or all
      the frames (in a new directory), were kept in the system's temporary directory
      instead, where the message says.
  """
  path = pathlib.Path(path)
  if path.suffix.lower() in VIDEO_SUFFIXES:
    iio = _imageio()
    video = np.stack([images_lib.to_uint8(f) for f in frames])
    if path.suffix.lower() == ".gif":
      kwargs = {"duration": 1000 / fps, "loop": 0}
    else:
      # The frames' own size: ffmpeg's writer would otherwise resize them up to multiples
      # of 16 (26x32 -> 32x32). yuv420p, what players expect, needs even sides: an odd
      # one gets its last row or column repeated once.
      kwargs = {"fps": fps, "macro_block_size": 1}
      odd = (video.shape[1] % 2, video.shape[2] % 2)
      if any(odd):
        logging.warning("%s: %dx%d frames padded to %dx%d (the video format needs even "
                        "sides)", path, video.shape[1], video.shape[2],
                        video.shape[1] + odd[0], video.shape[2] + odd[1])
        video = np.pad(video, ((0, 0), (0, odd[0]), (0, odd[1]), (0, 0)), mode="edge")
    write_or_keep(path, lambda tmp: iio.imwrite(tmp, video, **kwargs), suffix=path.suffix,
                  what="the video")
    return path
  for t, frame in enumerate(frames):
    target = path / f"frame_{t:05d}{ext}"
    try:
      images_lib.save_image(frame, target)
    except OutputError as e:  # Keep every frame together, not this one alone.
      if e.kept is not None:
        os.remove(e.kept)
      try:
        kept = pathlib.Path(tempfile.mkdtemp(prefix=f"jaxstyle-{path.name}-"))
        for u, f in enumerate(frames):
          images_lib.save_image(f, kept / f"frame_{u:05d}{ext}")
      except OSError as e2:
        why = getattr(e2, "reason", "") or e2.strerror or str(e2)
        raise OutputError(f"cannot write {target} ({e.reason}), nor keep the frames in "
                          f"{tempfile.gettempdir()} ({why})", None, e.reason) from None
      raise OutputError(f"cannot write {target} ({e.reason}); kept the {len(frames)} "
                        f"frames in {kept}", kept, e.reason) from None
  return path
