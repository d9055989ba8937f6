"""Ctrl-C and SIGTERM end a command with what it had saved, a line saying so, and exit
status 130 / 143: the commands run as subprocesses on tiny random networks and are
signalled once their progress lines show that the work is running.

Each command is signalled once, and one run covers several promises where it can: the
SIGTERM run of `jaxstyle` stops at the coarse scale of a coarse-to-fine run, with two
seeds and three steps per device call."""

import json
import logging
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxstyle.gatys import optimize, solvers
from jaxstyle.johnson import models, training
from jaxstyle.nets import johnson as transformer
from jaxstyle.weights import arbitrary as arbitrary_weights
from tests.commands import run_main
from tests.conftest import random_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Generous bounds for a slow, shared machine (compiling a network took over 100 s there
# beside other jobs); they only keep a broken run from hanging.
_STARTUP_S = 300
_EXIT_S = 120


class _Command:
  """A command started in the background, its stderr read line by line."""

  def __init__(self, module, *args, env=None):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", **(env or {}))
    # SIGINT as in a terminal, even where the tests run in the background (SIG_IGN).
    self.proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    self.lines = []
    self._queue = queue.Queue()
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stderr:
      self._queue.put(line)
    self._queue.put(None)

  def wait_for(self, pattern):
    """Reads stderr until a line matches `pattern`; returns the match."""
    while True:
      try:
        line = self._queue.get(timeout=_STARTUP_S)
      except queue.Empty:
        self.proc.kill()
        pytest.fail(f"no line matched {pattern!r} in {_STARTUP_S} s:\n{''.join(self.lines)}")
      if line is None:
        self.proc.wait()
        pytest.fail(f"exited ({self.proc.returncode}) before a line matched {pattern!r}:\n"
                    + "".join(self.lines))
      self.lines.append(line)
      match = re.search(pattern, line)
      if match:
        return match

  def signal_and_wait(self, signum):
    """Sends `signum`; returns (exit status, stderr) once the command has ended."""
    self.proc.send_signal(signum)
    try:
      self.proc.wait(timeout=_EXIT_S)
    except subprocess.TimeoutExpired:
      self.proc.kill()
      pytest.fail(f"still running {_EXIT_S} s after the signal:\n{''.join(self.lines)}")
    while True:
      try:
        line = self._queue.get(timeout=_EXIT_S)
      except queue.Empty:
        break
      if line is None:
        break
      self.lines.append(line)
    return self.proc.returncode, "".join(self.lines)


@pytest.mark.slow
def test_a_signal_during_a_device_call_keeps_that_calls_steps():
  """minimize with 4 steps per device call, SIGINT sent from inside the call of steps
  4-7 (by the objective, at its 6th evaluation): the call's result is kept and the run
  stops after it, with the images of an uninterrupted 7-step run and all 8 losses.

  In this process, deterministic: fails if the interrupt is not held until the call
  has returned (the donated state is lost) or the losses of that call are dropped."""
  rng = np.random.default_rng(0)
  target = jnp.asarray(rng.normal(size=(5, 6, 3)), jnp.float32)
  x0 = jnp.asarray(rng.normal(size=(1, 5, 6, 3)), jnp.float32)
  sent = []

  def signal_at(step):
    if int(step) == 5 and not sent:
      sent.append(step)
      os.kill(os.getpid(), signal.SIGINT)

  def loss(x, target, step, interrupt):
    if interrupt:
      jax.debug.callback(signal_at, step)
    d = x - target
    value = jnp.sum(d**2) + 0.1 * jnp.sum(d**4)
    return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}

  # uses_step: minimize passes the evaluation count (the step) as an argument.
  interrupting = solvers.Loss(lambda x, target, step: loss(x, target, step, True),
                               uses_step=True)
  plain = solvers.Loss(lambda x, target, step: loss(x, target, step, False), uses_step=True)
  handler = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    result = optimize.minimize(interrupting, x0, (target,), num_steps=20, steps_per_call=4,
                               log_every=0)
  except KeyboardInterrupt:
    pytest.fail("the interrupt escaped minimize")
  finally:
    signal.signal(signal.SIGINT, handler)
  assert sent and result.interrupted
  assert result.stopped == "interrupted after step 7" and result.steps == 7
  assert result.history["total"].shape == (8, 1)
  reference = optimize.minimize(plain, x0, (target,), num_steps=7, steps_per_call=4,
                                log_every=0)
  # The same steps (the programs differ only by the callback; allow their rounding).
  np.testing.assert_allclose(result.x, reference.x, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(result.history["total"], reference.history["total"], rtol=1e-6)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  d = tmp_path_factory.mktemp("photos")
  for i, (h, w) in enumerate([(24, 32), (32, 32)]):
    Image.fromarray((random_image(h, w, i) * 255).astype(np.uint8)).save(d / f"p{i}.png")
  return d


def _last_line(stderr):
  return stderr.strip().splitlines()[-1]


def _no_temporaries(directory):
  return not [p for p in os.listdir(directory) if p.endswith(".tmp")]


@pytest.mark.slow  # A command started as a process, and signalled.
def test_stylize_saves_the_current_image(tmp_path, photos, tiny_weights_file):
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  command = _Command("jaxstyle.stylize", f"--content={photos / 'p0.png'}",
                     f"--style={photos / 'p1.png'}", f"--output={out}", "--image_size=32",
                     "--num_steps=100000", "--log_every=1", f"--metrics_json={metrics}",
                     f"--weights={tiny_weights_file}",)
  command.wait_for(r"step 2/100000")
  code, stderr = command.signal_and_wait(signal.SIGINT)
  assert code == 130, stderr
  assert "Traceback" not in stderr, stderr
  match = re.fullmatch(r"interrupted: interrupted after step (\d+); saved (.*)", _last_line(stderr))
  assert match, stderr
  step = int(match.group(1))
  assert step >= 2
  assert match.group(2).split(", ") == [str(out), str(metrics)]
  with Image.open(out) as im:
    im.load()
    assert im.size == (32, 24) and im.mode == "RGB"
  m = json.loads(metrics.read_text())
  assert m["stopped"] == f"interrupted after step {step}" and m["steps"] == step
  assert len(m["history"]["total"]) == step + 1
  assert _no_temporaries(tmp_path)


@pytest.mark.slow  # A command started as a process, and signalled.
def test_stylize_stopped_at_a_coarse_scale_saves_every_seed(tmp_path, photos,
                                                            tiny_weights_file):
  """SIGTERM during the coarse scale of --scales=2, with --num_seeds=2 and
  --steps_per_call=3: exit 143; each seed's image (the coarse result, at the full size),
  the contact sheet and the metrics are written; the run stopped after a whole device
  call (steps 0-2, 3-5, ...: the step reported is 2 mod 3) and went to no finer scale.

  Fails if the finer scale runs after the interrupt (the command does not end), if the
  images are saved at the coarse size or for one seed only, or if the losses of the
  call that the signal arrived in are lost or counted wrongly."""
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  command = _Command("jaxstyle.stylize", f"--content={photos / 'p1.png'}",
                     f"--style={photos / 'p0.png'}", f"--output={out}", "--image_size=32",
                     "--scales=2", "--scale_steps=100000,100000", "--num_seeds=2",
                     "--steps_per_call=3", "--log_every=1", f"--metrics_json={metrics}",
                     f"--weights={tiny_weights_file}",)
  command.wait_for(r"scale 1/2: 16x16 px")
  command.wait_for(r"step 5/100000")  # The first line after the compiling call (steps 0-2).
  code, stderr = command.signal_and_wait(signal.SIGTERM)
  assert code == 143, stderr
  assert "Traceback" not in stderr, stderr
  assert "scale 2/2" not in stderr, stderr
  match = re.fullmatch(r"interrupted: interrupted after step (\d+); saved (.*)", _last_line(stderr))
  assert match, stderr
  step = int(match.group(1))
  assert step >= 5 and step % 3 == 2, stderr
  seeds = [tmp_path / "out_seed0.png", tmp_path / "out_seed1.png"]
  assert match.group(2).split(", ") == [*map(str, seeds), str(tmp_path / "out_sheet.png"),
                                        str(metrics)]
  pixels = []
  for path in seeds:
    with Image.open(path) as im:
      im.load()
      assert im.size == (32, 32) and im.mode == "RGB"  # The full size, not 16x16.
      pixels.append(np.asarray(im, np.float32))
  assert np.abs(pixels[0] - pixels[1]).mean() > 1.0  # Each seed its own image (of 255).
  m = json.loads(metrics.read_text())
  assert m["stopped"] == f"interrupted after step {step}" and m["steps"] == step
  assert m["seeds"] == [0, 1]
  assert m["run"]["steps_per_call"] == 3
  assert m["run"]["scales"] == [{"height": 16, "width": 16, "steps": step, "tile_size": None}]
  total = np.asarray(m["history"]["total"])
  assert total.shape == (step + 1, 2) and np.all(np.isfinite(total))
  assert _no_temporaries(tmp_path)


@pytest.mark.slow  # A command started as a process, and signalled.
def test_stylize_batch_writes_its_summary(tmp_path, photos, tiny_weights_file):
  out_dir = tmp_path / "batch"
  command = _Command("jaxstyle.stylize", f"--content={photos}", f"--style={photos / 'p1.png'}",
                     f"--output_dir={out_dir}", "--image_size=32", "--num_steps=100000",
                     "--log_every=1", f"--weights={tiny_weights_file}",)
  command.wait_for(r"step 2/100000")
  code, stderr = command.signal_and_wait(signal.SIGTERM)
  assert code == 143, stderr
  assert "Traceback" not in stderr, stderr
  last = _last_line(stderr)
  assert last.startswith("interrupted: batch item 1 of 2 (p0__p1.png): interrupted after step")
  assert last.endswith("lists what was done") and str(out_dir / "summary.json") in last
  summary = json.loads((out_dir / "summary.json").read_text())
  assert summary["written"] == [] and summary["failed"] == []
  assert summary["interrupted"].startswith("batch item 1 of 2 (p0__p1.png): interrupted after")
  with Image.open(out_dir / "p0__p1.png") as im:  # The item running when interrupted.
    assert im.size == (32, 24)
  assert not (out_dir / "p1__p1.png").exists()
  assert _no_temporaries(out_dir)


@pytest.mark.slow  # A command started as a process, and signalled.
def test_video_keeps_the_frames_finished(tmp_path, photos, tiny_weights_file):
  out = tmp_path / "frames"
  metrics = tmp_path / "m.json"
  command = _Command("jaxstyle.cli.video", f"--pan={photos / 'p0.png'}", "--num_frames=200",
                     "--pan_px=0", "--image_size=32", f"--style={photos / 'p1.png'}",
                     "--method=warm", "--num_steps=10", f"--output={out}",
                     f"--metrics_json={metrics}", env={"JAXSTYLE_WEIGHTS": str(tiny_weights_file)})
  command.wait_for(r"frame 2/200 done")
  code, stderr = command.signal_and_wait(signal.SIGTERM)
  assert code == 143, stderr
  assert "Traceback" not in stderr, stderr
  match = re.fullmatch(r"interrupted: (.*) in frame (\d+) of 200; saved the (\d+) finished "
                       r"frames of 200: (.*)", _last_line(stderr))
  assert match, stderr
  done = int(match.group(3))
  assert int(match.group(2)) == done + 1 and 2 <= done < 200
  assert match.group(4) == f"{out}, {metrics}"
  assert sorted(os.listdir(out)) == [f"frame_{t:05d}.png" for t in range(done)]
  with Image.open(out / "frame_00000.png") as im:
    assert im.size == (32, 24)
  m = json.loads(metrics.read_text())
  assert m["frames"] == done and m["frames_requested"] == 200 and m["interrupted"]
  assert m["pan_px"] == 0 and "compensated_ratio" in m  # Of the frames finished.
  assert _no_temporaries(out)


@pytest.fixture(scope="module")
def sizes_apart(tmp_path_factory):
  """Photos of as many sizes, so that each compiles its own program: the commands that
  stylize them one by one are slow enough to be signalled between two images."""
  d = tmp_path_factory.mktemp("sizes")
  for i in range(8):
    h, w = 16 + 4 * i, 24 + 4 * i
    Image.fromarray((random_image(h, w, i) * 255).astype(np.uint8)).save(d / f"img{i}.png")
  return d


def _stopped_between_images(command, signum, out_dir, inputs):
  """Signals `command` once it has written its first image: it exits with 130 / 143 and
  one line (it does not go on with the next images); each image it wrote is whole and of
  its input's size; nothing half-written."""
  # At once: the signal lands while the next image is read. Signalled later, inside the
  # next image's network call, this would also catch a command that takes the interrupt
  # for a bad file and goes on; but there jaxstyle-fast once ended in a segmentation
  # fault after printing "interrupted" (exit -11, on a loaded machine), a defect to fix
  # first (hold the interrupt during the device call, as optimize.minimize does).
  command.wait_for(r" -> \S+ \(\d+x\d+ px")
  code, stderr = command.signal_and_wait(signum)
  assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], stderr
  assert "Traceback" not in stderr, stderr
  assert _last_line(stderr) == "interrupted", stderr
  logged = [pathlib.Path(p).name for p in re.findall(r" -> (\S+) \(\d+x\d+ px", stderr)]
  written = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
  assert logged and set(logged) <= set(written), stderr
  # At most the image being saved when the signal came besides those logged, and not all.
  assert len(written) <= len(logged) + 1 and len(written) < len(inputs), stderr
  for name in written:
    with Image.open(out_dir / name) as im, Image.open(inputs[name]) as src:
      im.load()
      assert im.size == src.size
  assert _no_temporaries(out_dir) and not [p for p in os.listdir(out_dir) if p.startswith(".")]


@pytest.mark.slow  # A command started as a process, and signalled.
def test_fast_keeps_the_images_written(tmp_path, sizes_apart):
  """jaxstyle-fast on a directory, Ctrl-C after the first image."""
  net = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
  model = tmp_path / "model.msgpack"
  models.save_model(models.FastModel(net, transformer.init_variables(net, seed=0)), model)
  out = tmp_path / "styled"
  command = _Command("jaxstyle.cli.fast", f"--model={model}",
                     f"--content={sizes_apart}", f"--output={out}", "--ext=.png")
  _stopped_between_images(command, signal.SIGINT, out,
                          {p.name: p for p in sizes_apart.iterdir()})


@pytest.fixture(scope="module")
def arbitrary_weights_file(tmp_path_factory):
  """The arbitrary-style networks of the real shapes, random."""
  path = tmp_path_factory.mktemp("arbitrary") / "arbitrary_style.npz"
  arbitrary_weights.save(arbitrary_weights.random_weights(seed=0), path)
  return path


@pytest.mark.slow  # A command started as a process, and signalled.
def test_arbitrary_keeps_the_images_written(tmp_path, sizes_apart, arbitrary_weights_file):
  """jaxstyle-arbitrary on a directory, SIGTERM after the first image. The style is a
  saved style vector, so the style predictor is not compiled."""
  out = tmp_path / "styled"
  vector = tmp_path / "style.npy"
  np.save(vector, np.random.default_rng(0).normal(0, 0.5, 100).astype(np.float32))
  command = _Command("jaxstyle.cli.arbitrary", f"--content={sizes_apart}", f"--style={vector}",
                     f"--output={out}", "--ext=.png", f"--weights={arbitrary_weights_file}")
  _stopped_between_images(command, signal.SIGTERM, out,
                          {p.name: p for p in sizes_apart.iterdir()})


@pytest.mark.slow  # A command started as a process, and signalled.
def test_training_keeps_a_checkpoint_of_the_last_step(tmp_path, photos, tiny_weights_file,
                                                     caplog):
  run = tmp_path / "run"
  args = [f"--style={photos / 'p1.png'}", f"--dataset_dir={photos}", f"--output_dir={run}",
          "--crop_size=16", "--batch_size=1", "--widths=4,4,4", "--num_residual=1",
          "--style_size=32", "--sample_size=16", "--sample_every=0",
          "--checkpoint_every=100000", "--log_every=1", f"--weights={tiny_weights_file}"]
  command = _Command("jaxstyle.cli.train_fast", *args, "--num_steps=100000")
  command.wait_for(r"step 2/100000")
  code, stderr = command.signal_and_wait(signal.SIGTERM)
  assert code == 143, stderr
  assert "Traceback" not in stderr, stderr
  checkpoint = run / training.CHECKPOINT_NAME
  match = re.fullmatch(r"interrupted: interrupted after step (\d+); (.*)", _last_line(stderr))
  assert match, stderr
  step = int(match.group(1))
  assert step >= 2
  assert match.group(2) == (f"wrote the checkpoint {checkpoint}; continue with --resume")
  # The checkpoint is of that step (none was due before it: --checkpoint_every=100000).
  raw = training.serialization.msgpack_restore(checkpoint.read_bytes())
  meta = json.loads(raw["meta"])
  assert meta["step"] == step
  assert all(len(v) == step for v in meta["history"].values())
  assert not (run / "model.msgpack").exists()
  assert _no_temporaries(run)
  # --resume continues from it: in this process (no signal needed), where the training
  # step the command compiled is read back from the session's compilation cache.
  caplog.set_level(logging.INFO)
  done = run_main("jaxstyle.cli.train_fast", *args, f"--num_steps={step + 1}",
                  "--resume")
  assert done.returncode == 0, done.stderr
  assert f"resuming from {checkpoint} at step {step}" in caplog.text
  losses = json.loads((run / "losses.json").read_text())
  assert losses["step"] == step + 1 and len(losses["history"]["total"]) == step + 1
  assert losses["history"]["total"][:step] == meta["history"]["total"]
  assert (run / "model.msgpack").exists()
