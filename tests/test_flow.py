"""jaxstyle.flow: OpenCV's flows on known motion (their sign and frame order), bilinear
warping against hand computations, Ruder et al.'s reliability on a moving square (exact
and estimated flows), and Lai et al.'s warping error on static, panning and flickering
clips. OpenCV (opencv-python-headless) is in the test extra."""

import sys

import jax
import numpy as np
import pytest

from jaxstyle import flow, images, video
from jaxstyle.errors import UserError
from tests.conftest import SHARED_IMAGES, random_image

H, W = 64, 80
INTERIOR = (slice(12, -12), slice(12, -12))  # Away from the borders, where flows guess.


@pytest.fixture(scope="module")
def photo():
  return images.load_image(SHARED_IMAGES / "tubingen.jpg", size=256)  # 192x256.


@pytest.fixture(scope="module")
def other_photo():
  return images.load_image(SHARED_IMAGES / "starry_night.jpg", size=256)


def sinusoids(h: int, w: int, dx: float = 0.0, dy: float = 0.0, seed: int = 0
              ) -> np.ndarray:
  """A smooth texture [h, w, 3] in [0, 1], sampled at (x - dx, y - dy): the scene moved
  by (dx, dy), exactly, sub-pixel included."""
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
  x, y = cols - dx, rows - dy
  out = np.zeros((h, w, 3))
  for c in range(3):
    for _ in range(6):  # Periods of 8 to 33 px in random directions.
      f, angle, phase = rng.uniform(0.03, 0.12), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
      out[..., c] += np.sin(2 * np.pi * f * (np.cos(angle) * x + np.sin(angle) * y) + phase)
  return (0.5 + out / 12).astype(np.float32)


# --- optical_flow -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_of_a_subpixel_motion_points_where_the_pixels_went(method):
  d = np.array([1.5, -0.75])  # 1.5 px right, 0.75 px up.
  a, b = sinusoids(H, W), sinusoids(H, W, *d)
  forward = flow.optical_flow(a, b, method)
  assert forward.shape == (H, W, 2) and forward.dtype == np.float32
  # Measured error under 0.05 px; a wrong sign or dx, dy swapped is off by >= 1.5 px.
  assert np.abs(forward[INTERIOR] - d).max() < 0.25
  # The other frame order: the flow from b to a, the opposite motion.
  assert np.abs(flow.optical_flow(b, a, method)[INTERIOR] + d).max() < 0.25


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_of_a_moving_photo(method, photo):
  dx, dy = 2, -1
  a = photo[80:80 + H, 60:60 + W]
  b = photo[80 - dy:80 - dy + H, 60 - dx:60 - dx + W]  # b[y, x] = a[y - dy, x - dx].
  np.testing.assert_array_equal(b[:-1, 2:], a[1:, :-2])  # The scene moved (+2, -1).
  forward = flow.optical_flow(a, b, method)
  assert np.abs(np.median(forward[INTERIOR], axis=(0, 1)) - (dx, dy)).max() < 0.1
  assert np.mean(np.abs(forward[INTERIOR] - (dx, dy))) < 0.1


def test_flow_checks_its_arguments():
  a = sinusoids(16, 20)
  with pytest.raises(ValueError, match="flow method"):
    flow.optical_flow(a, a, "raft")
  with pytest.raises(ValueError, match=r"RGB \[H, W, 3\]"):
    flow.optical_flow(a, a[:8])
  with pytest.raises(ValueError, match=r"RGB \[H, W, 3\]"):
    flow.optical_flow(a[..., 0], a[..., 0])


def test_missing_opencv_is_a_user_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError.
  a = sinusoids(16, 20)
  with pytest.raises(UserError, match=r"pip install 'jaxstyle\[video\]'"):
    flow.optical_flow(a, a)


# --- warp -------------------------------------------------------------------------------


def test_warp_by_an_integer_flow_is_a_shift():
  image = random_image(12, 16)
  constant = np.broadcast_to(np.float32([2, -1]), (12, 16, 2))
  out, valid = flow.warp(image, constant, with_valid=True)
  out, valid = np.asarray(out), np.asarray(valid)
  # out[y, x] = image[y - 1, x + 2]: np.roll by (+1, -2), where it does not wrap around.
  np.testing.assert_allclose(out[1:, :-2], np.roll(image, (1, -2), axis=(0, 1))[1:, :-2],
                             atol=1e-6)
  assert not np.allclose(out[1:-1, 2:-2], np.roll(image, (-1, 2), axis=(0, 1))[1:-1, 2:-2],
                         atol=0.1)  # The opposite sign.
  # Outside the frame: the first row and the last two columns, clamped to the border.
  expected_valid = np.ones((12, 16), bool)
  expected_valid[0], expected_valid[:, -2:] = False, False
  np.testing.assert_array_equal(valid, expected_valid)
  np.testing.assert_allclose(out[0, :-2], image[0, 2:], atol=1e-6)
  np.testing.assert_allclose(out[1:, -2:], image[:-1, -1:].repeat(2, axis=1), atol=1e-6)


def test_warp_between_pixels_is_bilinear():
  image = np.float32([[0, 1], [2, 10]])[..., None]
  out = np.asarray(flow.warp(image, np.broadcast_to(np.float32([0.25, 0.5]), (2, 2, 2))))
  # At (0, 0), sampling (x, y) = (0.25, 0.5): top 0.75*0 + 0.25*1, bottom 0.75*2 + 0.25*10,
  # then half of each.
  assert out[0, 0, 0] == pytest.approx(0.5 * 0.25 + 0.5 * 4.0, abs=1e-6)
  # A random flow on a random image, against the formula pixel by pixel.
  image = random_image(8, 10, seed=1)
  field = np.random.default_rng(2).uniform(-2.5, 2.5, (8, 10, 2)).astype(np.float32)
  expected = np.empty_like(image)
  for r in range(8):
    for c in range(10):
      x, y = np.clip(c + field[r, c, 0], 0, 9), np.clip(r + field[r, c, 1], 0, 7)
      x0, y0 = int(np.floor(x)), int(np.floor(y))
      x1, y1, ax, ay = min(x0 + 1, 9), min(y0 + 1, 7), x - x0, y - y0
      expected[r, c] = ((1 - ay) * ((1 - ax) * image[y0, x0] + ax * image[y0, x1])
                        + ay * ((1 - ax) * image[y1, x0] + ax * image[y1, x1]))
  np.testing.assert_allclose(flow.warp(image, field), expected, atol=1e-5)


def test_warp_is_jittable_and_batched():
  batch = np.stack([random_image(8, 10, seed=s) for s in range(3)])
  fields = np.random.default_rng(0).uniform(-2, 2, (3, 8, 10, 2)).astype(np.float32)
  one_by_one = np.stack([flow.warp(i, f) for i, f in zip(batch, fields)])
  warp = jax.jit(flow.warp, static_argnames="with_valid")
  out, valid = warp(batch, fields, with_valid=True)
  assert out.shape == (3, 8, 10, 3) and valid.shape == (3, 8, 10)
  np.testing.assert_allclose(out, one_by_one, atol=1e-6)
  shared = np.stack([flow.warp(i, fields[0]) for i in batch])  # One flow for a batch.
  np.testing.assert_allclose(flow.warp(batch, fields[0]), shared, atol=1e-6)
  with pytest.raises(ValueError, match="flow"):
    flow.warp(batch[0], fields[0, :4])
  with pytest.raises(ValueError, match="flow"):
    flow.warp(batch[0], fields[..., :1])


def test_backward_flow_carries_the_previous_frame_into_the_current(photo):
  frames = video.pan_frames(photo, height=H, width=W, num_frames=2, shift=3)
  backward = flow.optical_flow(frames[1], frames[0])  # From t to t-1, on t's grid.
  carried = np.asarray(flow.warp(frames[0], backward))
  assert np.mean(np.abs(carried - frames[1])[INTERIOR]) < 0.01
  forward = flow.optical_flow(frames[0], frames[1])  # The wrong one.
  assert np.mean(np.abs(np.asarray(flow.warp(frames[0], forward)) - frames[1])[INTERIOR]) > 0.03


# --- reliability ------------------------------------------------------------------------


def test_reliability_of_a_moving_square_with_exact_flows():
  # A 12x12 square moves 4 px right from frame t-1 (columns 10..21) to frame t (14..25)
  # over a static background.
  h, w, r0, x0, s, v = 32, 48, 8, 10, 12, 4
  rows, cols = slice(r0, r0 + s), slice(x0 + v, x0 + v + s)
  backward = np.zeros((h, w, 2), np.float32)  # t -> t-1, on t's grid.
  backward[rows, cols, 0] = -v
  forward = np.zeros((h, w, 2), np.float32)  # t-1 -> t, on t-1's grid.
  forward[rows, x0:x0 + s, 0] = v
  c = flow.reliability(backward, forward)
  assert c.shape == (h, w) and c.dtype == np.float32
  expected = np.ones((h, w), np.float32)
  expected[rows, x0:x0 + v] = 0  # Disoccluded: background hidden in t-1.
  # Motion boundaries: central differences reach one pixel either side of each edge.
  expected[rows, [x0 + v - 1, x0 + v, x0 + v + s - 1, x0 + v + s]] = 0
  expected[[r0 - 1, r0, r0 + s - 1, r0 + s], cols] = 0
  np.testing.assert_array_equal(c, expected)
  # On t-1's grid (the roles swapped) the occlusion is ahead of the square instead:
  # background there is covered in t. On t's grid that place is the square, reliable.
  ahead = (slice(r0 + 1, r0 + s - 1), slice(x0 + s, x0 + s + v - 1))
  assert np.all(c[ahead] == 1)
  assert np.all(flow.reliability(forward, backward)[ahead] == 0)


def test_reliability_marks_where_the_flow_leaves_the_frame():
  # A pan to the right: the scene moves 3 px left, new content enters on the right.
  backward = np.broadcast_to(np.float32([3, 0]), (16, 20, 2))
  c = flow.reliability(backward, -backward)
  np.testing.assert_array_equal(c[:, :-3], 1)
  np.testing.assert_array_equal(c[:, -3:], 0)
  with pytest.raises(ValueError, match="flows"):
    flow.reliability(backward, backward[:8])


def test_flows_for_finds_the_disocclusion_behind_a_moving_square(photo, other_photo):
  s, v, x0 = 24, 6, 20
  r0 = (H - s) // 2
  background = photo[100:100 + H, 100:100 + W]

  def frame(x):
    f = background.copy()
    f[r0:r0 + s, x:x + s] = other_photo[50:50 + s, 60:60 + s]
    return f

  pair = flow.flows_for(frame(x0), frame(x0 + v))
  assert pair.backward.shape == (H, W, 2) and pair.reliable.shape == (H, W)
  np.testing.assert_allclose(np.median(pair.backward[r0 + 6:r0 + s - 6, x0 + v + 6:x0 + s],
                                       axis=(0, 1)), (-v, 0), atol=0.3)
  c = pair.reliable
  inner = slice(r0 + 3, r0 + s - 3)
  assert c[inner, x0:x0 + v].mean() < 0.2  # Behind the square (measured 0.07).
  assert c[inner, x0 + s:x0 + s + v // 2].mean() > 0.75  # Ahead of it (0.91): occluded
  # only on t-1's grid, where the roles swapped find it (0.04).
  swapped = flow.reliability(flow.optical_flow(frame(x0), frame(x0 + v)), pair.backward)
  assert swapped[inner, x0 + s:x0 + s + v // 2].mean() < 0.2
  assert c[inner, x0 + v + 3:x0 + s - 3].mean() > 0.95  # The square's inside.
  far = np.ones((H, W), bool)
  far[r0 - 10:r0 + s + 10, x0 - 10:x0 + s + v + 10] = False
  np.testing.assert_array_equal(c[far], 1)  # The static background.


# --- warping_error ----------------------------------------------------------------------


def test_warping_error_of_static_panning_and_flickering_clips(photo):
  pan = video.pan_frames(photo, height=H, width=W, num_frames=4, shift=2)
  static = np.repeat(pan[:1], 4, axis=0)
  still = flow.warping_error(static, static)
  floor = flow.warping_errors(pan, pan)  # The input's own: what the flow's errors leave.
  assert floor.shape == (3,)
  moving_style = flow.warping_error(pan[..., ::-1] ** 2, pan)  # Per pixel: moves along.
  a = 0.05
  noisy = pan + np.random.default_rng(0).uniform(-a, a, pan.shape).astype(np.float32)
  flicker = flow.warping_error(noisy, pan)
  frozen = flow.warping_error(static, pan)  # An output that ignores the motion.
  assert still < 1e-5  # Measured 2e-7.
  assert 0 < floor.mean() < 2e-4 and moving_style < 2e-4  # 2.4e-5, 2.5e-5.
  # Independent noise: E (n_t - n_t+1)^2 = 2 a^2 / 3 (1.7e-3), on top of the floor.
  assert 2 * a * a / 3 * 0.8 < flicker < 2 * a * a / 3 * 1.2 + 2e-4
  assert flicker < frozen  # 0.017.
  # The metric's flow is the input's: the same output judged against a static input.
  assert flow.warping_error(pan, static) > 10 * flow.warping_error(pan, pan)


def test_warping_error_map_finds_where_the_output_flickers(photo):
  """One pair's term per pixel: a patch repainted in frame t+1 only shows where it lands
  on frame t's grid (moved back by the pan), and the pair's error is its masked mean."""
  pan = video.pan_frames(photo, height=H, width=W, num_frames=2, shift=2)
  out = pan.copy()
  out[1, 10:20, 20:30] = 1.0 - out[1, 10:20, 20:30]  # At x = 20..29 in frame 1.
  squared, mask = flow.warping_error_map(out[0], out[1], flow.metric_flows(pan)[0])
  assert squared.shape == mask.shape == (H, W)
  inside = squared[10:20, 22:32]  # Frame 1's x = 20..29 shows frame 0's x = 22..31.
  outside = np.delete(squared, np.s_[10:20], axis=0), squared[:, :20], squared[:, 34:]
  assert np.mean(inside > 0.01) > 0.9  # Measured 0.97: not where 1 - v is close to v.
  assert max(o.mean() for o in outside) < 1e-3
  assert np.sum(mask * squared) / np.sum(mask) == pytest.approx(
      flow.warping_errors(out, pan)[0])


def test_warping_error_checks_its_arguments():
  clip = np.stack([sinusoids(16, 20, seed=s) for s in range(2)])
  with pytest.raises(ValueError, match="one shape"):
    flow.warping_error(clip, clip[:, :8])
  with pytest.raises(ValueError, match="at least two frames"):
    flow.warping_error(clip[:1], clip[:1])
  with pytest.raises(ValueError, match="flow method"):
    flow.warping_error(clip, clip, method="raft")
  with pytest.raises(ValueError, match="metric flows for 2 frames"):
    flow.warping_error(clip, clip, flows=[])
