"""jaxstyle.video: the synthetic pan, the flicker metrics, frame I/O (a real clip from
../shared/videos/ too) and the stylizing loops (feed-forward, arbitrary-style, optimized).
Video files need imageio-ffmpeg (in the test extra: it ships its ffmpeg binary)."""

import numpy as np
import pytest

from jaxstyle import arbitrary, video
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer
from jaxstyle.weights import arbitrary as weights_lib
from tests.conftest import SHARED_IMAGES, random_image

CLIP = SHARED_IMAGES.parent / "videos" / "carphone_pristine.mp4"  # 176x144, 29.97 fps.


def test_pan_moves_the_scene_by_the_known_shift():
  image = random_image(40, 80)
  frames = video.pan_frames(image, height=20, width=30, num_frames=5, shift=3)
  assert frames.shape == (5, 20, 30, 3)
  for t in range(4):
    np.testing.assert_array_equal(frames[t + 1][:, :-3], frames[t][:, 3:])
  with pytest.raises(ValueError, match="needs an image"):
    video.pan_frames(image, height=20, width=70, num_frames=5, shift=3)


def test_instability_of_a_known_pan():
  frames = video.pan_frames(random_image(30, 60), height=30, width=40, num_frames=4, shift=2)
  # Exact motion: raw difference > 0, motion-compensated difference 0.
  assert video.mean_frame_difference(frames) > 0.2
  assert video.compensated_difference(frames, 2) == 0
  # The output is the input: ratio 1, no popping.
  same = video.temporal_instability(frames, frames, 2)
  assert same["raw_ratio"] == 1 and same["compensated_ratio"] == 0
  # A static output does not flicker at all.
  still = np.repeat(frames[:1], 4, axis=0)
  assert video.temporal_instability(still, frames, 2)["raw_ratio"] == 0
  # Independent noise added per frame: popping = the noise's expected difference.
  rng = np.random.default_rng(0)
  noisy = frames + rng.uniform(-0.05, 0.05, size=frames.shape)
  m = video.temporal_instability(noisy, frames, 2)
  # E|u - v| for u, v ~ U(-a, a) is 2a/3.
  np.testing.assert_allclose(m["compensated_out"], 0.1 / 3, rtol=0.05)
  np.testing.assert_allclose(m["compensated_ratio"], m["compensated_out"] / m["raw_in"])


def test_shift_left_fills_the_new_strip():
  image = random_image(8, 10)
  fill = np.zeros_like(image)
  moved = video.shift_left(image, 3, fill)
  np.testing.assert_array_equal(moved[:, :7], image[:, 3:])
  np.testing.assert_array_equal(moved[:, 7:], 0)


def test_frames_directory_round_trip(tmp_path):
  frames = np.stack([random_image(12, 16, seed=i) for i in range(3)])
  video.write_frames(frames, tmp_path / "frames")
  back, _ = video.read_frames(tmp_path / "frames")
  assert back.shape == frames.shape
  np.testing.assert_allclose(back, frames, atol=1 / 255 + 1e-6)


def test_video_file_round_trip(tmp_path):
  frames = np.stack([np.full((32, 48, 3), t / 4, np.float32) for t in range(4)])
  video.write_frames(frames, tmp_path / "clip.mp4", fps=8)
  back, fps = video.read_frames(tmp_path / "clip.mp4")
  assert back.shape == frames.shape and fps == pytest.approx(8)
  np.testing.assert_allclose(back.mean(axis=(1, 2, 3)), frames.mean(axis=(1, 2, 3)), atol=0.03)


@pytest.mark.slow
def test_fast_frames(tiny_weights):
  frames = video.pan_frames(random_image(24, 40), height=16, width=24, num_frames=3, shift=2)
  config = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
  model = models.FastModel(config, transformer.init_variables(config))
  out = video.stylize_frames_fast(model, frames, batch_size=2)
  assert out.shape == frames.shape
  np.testing.assert_allclose(out[2], video.stylize_frames_fast(model, frames[2:])[0], atol=1e-6)


@pytest.mark.slow
def test_optimized_frames_start_where_the_mode_says(tiny_weights, monkeypatch):
  import jaxstyle.gatys.transfer  # pylint: disable=import-outside-toplevel
  real = jaxstyle.gatys.transfer.stylize
  inits = []

  def recording(content, style, *, init, **kwargs):
    inits.append(init)
    return real(content, style, init=init, **kwargs)

  monkeypatch.setattr(jaxstyle.gatys.transfer, "stylize", recording)
  frames = video.pan_frames(random_image(24, 40), height=16, width=24, num_frames=3, shift=2)
  style = random_image(16, 16, seed=4)
  kwargs = dict(weights=tiny_weights, num_steps=2, optimizer="adam")
  noise = video.stylize_frames_optim(frames, style, mode="noise", **kwargs)
  assert inits == ["noise"] * 3 and noise.shape == frames.shape
  inits.clear()
  warm = video.stylize_frames_optim(frames, style, mode="warm", **kwargs)
  assert inits[0] == "noise"
  np.testing.assert_array_equal(inits[1], warm[0])
  np.testing.assert_array_equal(inits[2], warm[1])
  np.testing.assert_array_equal(noise[0], warm[0])
  inits.clear()
  shifted = video.stylize_frames_optim(frames, style, mode="warm_shifted", shift=2, **kwargs)
  np.testing.assert_array_equal(inits[1][:, :-2], shifted[0][:, 2:])
  np.testing.assert_array_equal(inits[1][:, -2:], frames[1][:, -2:])


@pytest.mark.slow
def test_temporal_frames_start_from_and_keep_to_the_warped_previous_output(
    tiny_weights, monkeypatch, shared_images):
  """mode="temporal" (Ruder et al.): frame t starts from output t-1 warped by the DIS
  flow from input t to t-1 and gets it as its temporal target with that flow's
  reliability; with a strong temporal weight the reliable pixels stay where the warp
  put them, with weight 0 they move as in `warm`."""
  import jaxstyle.gatys.transfer  # pylint: disable=import-outside-toplevel
  from jaxstyle import flow, images  # pylint: disable=import-outside-toplevel
  real = jaxstyle.gatys.transfer.stylize
  calls = []

  def recording(content, style, *, init, temporal=None, **kwargs):
    calls.append((init, temporal))
    return real(content, style, init=init, temporal=temporal, **kwargs)

  monkeypatch.setattr(jaxstyle.gatys.transfer, "stylize", recording)
  photo = images.load_image(shared_images / "tubingen.jpg", 96)
  frames = video.pan_frames(photo, height=32, width=48, num_frames=3, shift=3)
  style = random_image(16, 16, seed=4)
  moved = {}
  for weight in (1e9, 0.0):  # The tiny network's content and style terms: ~1e4 here.
    calls.clear()
    out = video.stylize_frames_optim(frames, style, mode="temporal", weights=tiny_weights,
                                     num_steps=8, temporal_weight=weight)
    assert calls[0] == ("noise", None) and len(calls) == 3
    init, (warped, reliable) = calls[2]
    pair = flow.flows_for(frames[1], frames[2])
    np.testing.assert_array_equal(reliable, pair.reliable)
    np.testing.assert_allclose(init, np.clip(flow.warp(out[1], pair.backward), 0, 1),
                               atol=1e-6)
    np.testing.assert_array_equal(warped, init)
    assert 0.5 < reliable.mean() < 1.0  # The strip entering the frame is not reliable.
    mask = reliable[..., None] > 0
    moved[weight] = np.abs(out[2] - init)[np.broadcast_to(mask, init.shape)].mean()
  assert moved[1e9] < 0.2 * moved[0.0], moved


def test_mean_gradient_magnitude():
  frames = np.zeros((1, 3, 3, 1))
  frames[0, :, 2] = 1.0  # A vertical edge: |grad| = 1 at the 2 of 4 positions beside it.
  assert video.mean_gradient_magnitude(frames) == pytest.approx(0.5)


def test_blend_with_previous_follows_the_flow_where_it_is_reliable(shared_images):
  """The real-time methods' filter: strength 0 changes nothing; strength 1 makes the
  reliable pixels the previous blended frame warped by the flow, and the rest the new
  output; on outputs that flicker (independent noise per frame) it lowers the warping
  error, at a cost in sharpness (the noise averaged away)."""
  from jaxstyle import flow, images  # pylint: disable=import-outside-toplevel
  photo = images.load_image(shared_images / "tubingen.jpg", 128)
  frames = video.pan_frames(photo, height=48, width=64, num_frames=4, shift=3)
  rng = np.random.default_rng(0)
  outputs = np.clip(frames + 0.1 * rng.standard_normal(frames.shape), 0, 1).astype(np.float32)
  np.testing.assert_array_equal(video.blend_with_previous(outputs, frames, 0.0), outputs)
  full = video.blend_with_previous(outputs, frames, 1.0)
  pair = flow.flows_for(frames[1], frames[2])
  warped = np.asarray(flow.warp(full[1], pair.backward))
  mask = np.broadcast_to(pair.reliable[..., None] > 0, warped.shape)
  np.testing.assert_allclose(full[2][mask], warped[mask], atol=1e-6)
  np.testing.assert_array_equal(full[2][~mask], outputs[2][~mask])
  half = video.blend_with_previous(outputs, frames, 0.5)
  assert flow.warping_error(half, frames) < 0.7 * flow.warping_error(outputs, frames)
  assert video.mean_gradient_magnitude(half) < video.mean_gradient_magnitude(outputs)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    video.blend_with_previous(outputs, frames, 1.5)


def test_interrupted_optimization_keeps_the_finished_frames(tiny_weights, monkeypatch):
  import jaxstyle.gatys.transfer  # pylint: disable=import-outside-toplevel
  real = jaxstyle.gatys.transfer.stylize
  calls = []

  def third_is_interrupted(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return real(*args, **kwargs)

  monkeypatch.setattr(jaxstyle.gatys.transfer, "stylize", third_is_interrupted)
  frames = video.pan_frames(random_image(24, 40), height=16, width=24, num_frames=4, shift=2)
  with pytest.raises(video.FramesInterrupted, match="in frame 3 of 4") as caught:
    video.stylize_frames_optim(frames, random_image(16, 16, seed=4), mode="warm",
                               weights=tiny_weights, num_steps=2, optimizer="adam")
  assert caught.value.frames.shape == (2, *frames.shape[1:])
  assert isinstance(caught.value, KeyboardInterrupt)  # Uncaught, it is a Ctrl-C.


@pytest.fixture(scope="module")
def clip():
  if not CLIP.is_file():
    pytest.skip(f"the shared videos are not at {CLIP.parent}")
  return CLIP


def test_reads_the_first_frames_of_a_real_clip(clip):
  frames, fps = video.read_frames(clip, 32, max_frames=3)  # Resized: 176x144 -> 32x26.
  assert frames.shape == (3, 26, 32, 3) and fps == pytest.approx(29.97, abs=0.01)
  assert frames.dtype == np.float32 and 0 <= frames.min() and frames.max() <= 1
  assert frames.std() > 0.1  # A picture, not a blank frame.
  assert np.abs(frames[1] - frames[0]).mean() > 0  # It moves.


@pytest.mark.slow
def test_video_file_keeps_the_frame_size(tmp_path):
  """`jaxstyle-video --image_size=32` on a 4:3 clip makes 24x32 frames, and frames of 26x32
  from carphone_pristine.mp4: the video written must have that size, not 32x32 (ffmpeg's
  writer rounds up to multiples of 16 unless told not to). An odd side (the encoder's
  yuv420p needs even ones) gains one repeated row."""
  frames = np.stack([random_image(26, 32, seed=t) for t in range(2)])
  video.write_frames(frames, tmp_path / "clip.mp4", fps=8)
  back, _ = video.read_frames(tmp_path / "clip.mp4")
  assert back.shape == frames.shape
  video.write_frames(frames[:, :25], tmp_path / "odd.mp4", fps=8)
  back, _ = video.read_frames(tmp_path / "odd.mp4")
  assert back.shape == (2, 26, 32, 3)


@pytest.fixture(scope="module")
def weights():
  return weights_lib.random_weights(seed=0)


@pytest.mark.slow
def test_video_frames_use_one_style_vector(weights):
  frames = np.stack([random_image(16, 20, seed=i) for i in range(5)])
  vector = arbitrary.style_vector(weights, random_image(32, 32, seed=9))
  out = video.stylize_frames_arbitrary(weights, frames, vector, batch_size=2)
  assert out.shape == frames.shape
  np.testing.assert_allclose(out, arbitrary.transform(weights, frames, vector), atol=1e-5)
