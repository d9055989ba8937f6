"""`jaxstyle-video` (jaxstyle/cli/video.py) on a real clip (../shared/videos/) with its
default --method=fast, with --method=arbitrary, and what it refuses. Video files need
imageio-ffmpeg (in the test extra: it ships its ffmpeg binary)."""

import json
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from jaxstyle import video
from jaxstyle.cli import video as video_cli
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer

from tests.cli.conftest import assert_refused, files_in, identity_network, kept_files, no_files
from tests.commands import fails_cleanly, run_main
from tests.conftest import SHARED_IMAGES

CLIP = SHARED_IMAGES.parent / "videos" / "carphone_pristine.mp4"  # 176x144, 29.97 fps.


@pytest.fixture(scope="module")
def clip():
  if not CLIP.is_file():
    pytest.skip(f"the shared videos are not at {CLIP.parent}")
  return CLIP


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
  config = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
  model = models.FastModel(config, transformer.init_variables(config, seed=3))
  path = tmp_path_factory.mktemp("fast_model") / "tiny.msgpack"
  models.save_model(model, path)
  return path


def _blocks(frames, size=8):
  """Means of size x size blocks: what a lossy codec keeps."""
  t, h, w, c = frames.shape
  return frames.reshape(t, h // size, size, w // size, size, c).mean(axis=(2, 4))


@pytest.mark.slow
def test_video_command_defaults_to_fast_on_a_real_clip(tmp_path, clip, tiny_model_file):
  """`jaxstyle-video --input=clip.mp4 --model=M` (no --method: fast), at the clip's own
  176x144 px (a multiple of 16: see the next test), into a frame directory (exactly the
  library's frames) and into a video file (those frames up to the codec's loss, at the
  clip's frame rate). --kernels=xla: the same program, compiled in half the time."""
  frames, fps = video.read_frames(clip, max_frames=2)
  expected = video.stylize_frames_fast(models.load_model(tiny_model_file), frames,
                                       kernels="xla")
  assert np.abs(expected - frames).mean() > 0.1  # The model changes the picture.
  args = (f"--input={clip}", f"--model={tiny_model_file}", "--num_frames=2", "--kernels=xla")
  done = run_main("jaxstyle.cli.video", *args, f"--output={tmp_path / 'frames'}")
  assert done.returncode == 0, done.stderr
  metrics = json.loads(done.stdout.strip().splitlines()[-1])
  assert metrics["method"] == "fast" and metrics["frames"] == 2
  assert (metrics["height"], metrics["width"]) == (144, 176)
  written, _ = video.read_frames(tmp_path / "frames")
  np.testing.assert_allclose(written, expected, atol=0.5 / 255 + 1e-6)

  out = tmp_path / "styled.mp4"
  done = run_main("jaxstyle.cli.video", *args, f"--output={out}")
  assert done.returncode == 0, done.stderr
  back, back_fps = video.read_frames(out)
  assert back.shape == expected.shape == (2, 144, 176, 3)
  assert back_fps == pytest.approx(fps, abs=0.01) and fps == pytest.approx(29.97, abs=0.01)
  error = np.abs(_blocks(back) - _blocks(expected)).mean()
  assert error < 0.03 and error < 0.15 * np.abs(_blocks(back) - _blocks(frames)).mean(), error


@pytest.mark.slow
def test_video_method_arbitrary(tmp_path, arbitrary_pictures, arbitrary_weights_file,
                                monkeypatch):
  """`jaxstyle-video --method=arbitrary` finds the weights beside the default VGG-19's."""
  monkeypatch.setenv("JAXSTYLE_WEIGHTS",
                     str(pathlib.Path(arbitrary_weights_file).with_name("vgg19.npz")))
  done = run_main("jaxstyle.cli.video", f"--pan={arbitrary_pictures / 'wide.png'}",
                  "--num_frames=3", "--pan_px=2", "--image_size=16", "--method=arbitrary",
                  f"--style={arbitrary_pictures / 'style.png'}", f"--output={tmp_path / 'frames'}")
  assert done.returncode == 0, done.stderr
  assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 3


@pytest.mark.slow
def test_video_method_temporal_measures_the_warping_error(tmp_path, clip, tiny_weights_file,
                                                          monkeypatch, caplog):
  """`jaxstyle-video --method=temporal` on a real clip: every frame written, a progress
  line with the clip's ETA per frame, and in --metrics_json Lai et al.'s warping error of
  the output beside the input's own (the floor; the flicker of the output is above it)."""
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tiny_weights_file))
  style = tmp_path / "style.png"
  Image.fromarray((np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)
                  ).save(style)
  metrics_json = tmp_path / "m.json"
  done = run_main("jaxstyle.cli.video", f"--input={clip}", "--num_frames=3",
                  "--image_size=48", "--method=temporal", f"--style={style}",
                  "--num_steps=3", "--style_loss=mean_cov", "--temporal_weight=1e6",
                  f"--output={tmp_path / 'frames'}", f"--metrics_json={metrics_json}")
  assert done.returncode == 0, done.stderr
  assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 3
  assert re.search(r"frame 2/3 done \(.* s per frame, ETA \d+ s\)", caplog.text)
  metrics = json.loads(metrics_json.read_text())
  assert metrics["method"] == "temporal" and metrics["frames"] == 3
  assert 0 < metrics["input_warping_error"] < metrics["warping_error"]
  assert metrics["warping_error_ratio"] == pytest.approx(
      metrics["warping_error"] / metrics["input_warping_error"])
  # The settings are the run config's (`jaxstyle`'s flags), recorded.
  objective, solver = metrics["config"]["objective"], metrics["config"]["solver"]
  assert (objective["style_loss"], objective["temporal_weight"]) == ("mean_cov", 1e6)
  assert solver["num_steps"] == 3


@pytest.mark.parametrize("flag, message", [
    ("--init=content", "--init: jaxstyle-video starts each frame as --method says"),
    ("--num_seeds=2", "a video is one image per frame"),
    ("--style_weight=1e-3,1e-2", "a video is one image per frame"),
])
def test_video_refuses_settings_a_video_cannot_take(inputs, flag, message):
  d = inputs
  done = run_main("jaxstyle.cli.video", f"--pan={d / 'c.png'}", f"--output={d / 'out'}",
                  "--method=temporal", f"--style={d / 's.png'}", flag)
  fails_cleanly(done, message)


@pytest.mark.slow
def test_video_blend_steadies_the_fast_network(tmp_path, clip, tiny_model_file):
  """--blend (fast and arbitrary): the warping error with the blend, without it, and the
  sharpness of both in --metrics_json; refused for the optimization methods."""
  metrics_json = tmp_path / "m.json"
  done = run_main("jaxstyle.cli.video", f"--input={clip}", f"--model={tiny_model_file}",
                  "--num_frames=3", "--image_size=64", "--kernels=xla", "--blend=0.7",
                  f"--output={tmp_path / 'frames'}", f"--metrics_json={metrics_json}")
  assert done.returncode == 0, done.stderr
  metrics = json.loads(metrics_json.read_text())
  assert metrics["blend"] == 0.7
  assert metrics["warping_error"] < metrics["unblended_warping_error"]
  assert 0 < metrics["sharpness"] <= metrics["unblended_sharpness"]
  done = run_main("jaxstyle.cli.video", f"--input={clip}", "--method=warm",
                  f"--style={tiny_model_file}", "--blend=0.5", f"--output={tmp_path / 'w'}")
  assert done.returncode == 1 and "--blend is for --method=fast and arbitrary" in done.stderr


_VIDEO_REFUSALS = [
    (["--input={d}/frames", "--output={d}/frames"], "{d}/frames/frame_00000.png",
     "{d}/frames/frame_00000.png"),
    (["--pan={d}/c.png", "--output={d}/frames", "--method=warm",
      "--style={d}/frames/frame_00001.png"], "{d}/frames/frame_00001.png",
     "{d}/frames/frame_00001.png"),
    (["--pan={d}/c.png", "--output={d}/out", "--metrics_json={d}/c.png"], "{d}/c.png",
     "{d}/c.png"),
    (["--pan={d}/c.png", "--output={d}/out", "--model={d}/model.msgpack",
      "--metrics_json={d}/model.msgpack"], "{d}/model.msgpack", "{d}/model.msgpack"),
    (["--input={d}/clip.gif", "--output={d}/clip.gif"], "{d}/clip.gif", "{d}/clip.gif"),
]


def _video_args(d, args):
  args = [a.format(d=d) for a in args]
  if not any(a.startswith("--model=") for a in args):
    args.append(f"--model={d / 'model.msgpack'}")
  return [*args, "--num_frames=2", "--image_size=32"]


@pytest.mark.parametrize("args, output, the_input", _VIDEO_REFUSALS)
def test_video_refuses_to_overwrite_an_input(inputs, args, output, the_input):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.cli.video", *_video_args(d, args))
  assert_refused(done, output.format(d=d), the_input.format(d=d), d, before)


@pytest.mark.parametrize("flag", ["--content_weight=nan", "--style_weight=inf"])
def test_video_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.cli.video", f"--pan={d / 'c.png'}", f"--output={d / 'out'}",
                  "--method=warm", f"--style={d / 's.png'}", "--num_frames=2",
                  "--image_size=32", "--num_steps=1", flag)
  name, value = flag[2:].split("=")  # The settings' flags: parsed as `jaxstyle` does.
  fails_cleanly(done, f"flag --{name}={value}: must be non-negative finite numbers")
  assert files_in(d) == before


def test_video_keeps_the_frames_and_metrics_when_the_disk_is_full(tmp_path, d, full_disk,
                                                                  monkeypatch):
  monkeypatch.setattr(video_cli, "stylize_frames_fast", identity_network)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.video", f"--pan={d / 'c.png'}", "--num_frames=3",
                  "--image_size=32", f"--model={d / 'model.msgpack'}",
                  f"--output={out / 'frames'}", f"--metrics_json={out / 'm.json'}")
  [(what, frames), (what_metrics, metrics)] = kept_files(done, full_disk.systemp)
  assert (what, what_metrics) == ("the 3 frames", "the metrics")
  assert sorted(p.name for p in frames.iterdir()) == [f"frame_0000{t}.png" for t in range(3)]
  assert Image.open(frames / "frame_00002.png").size == (32, 24)
  assert json.loads(metrics.read_text())["frames"] == 3
  # The frame that failed first was not also kept alone.
  assert sorted(full_disk.systemp.iterdir()) == sorted([frames, metrics])
  assert no_files(out)
