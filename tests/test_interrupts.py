"""Ctrl-C and SIGTERM end a command with what it had saved, a line saying so, and exit
status 130 / 143: the commands run as subprocesses on the tiny random network and are
signalled once their progress lines show that steps are running."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from jaxstyle import images
from jaxstyle.johnson import training
from tests.conftest import random_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Generous bounds for a slow, shared machine; they only keep a broken run from hanging.
_STARTUP_S = 120
_EXIT_S = 60


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


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  d = tmp_path_factory.mktemp("photos")
  for i, (h, w) in enumerate([(40, 50), (36, 36)]):
    Image.fromarray((random_image(h, w, i) * 255).astype(np.uint8)).save(d / f"p{i}.png")
  return d


def _last_line(stderr):
  return stderr.strip().splitlines()[-1]


def _no_temporaries(directory):
  return not [p for p in os.listdir(directory) if p.endswith(".tmp")]


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stylize_saves_the_current_image(tmp_path, photos, tiny_weights_file, signum, status):
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  command = _Command("jaxstyle.stylize", f"--content={photos / 'p0.png'}",
                     f"--style={photos / 'p1.png'}", f"--output={out}", "--image_size=64",
                     "--num_steps=100000", "--log_every=1", f"--metrics_json={metrics}",
                     f"--weights={tiny_weights_file}",)
  command.wait_for(r"step 2/100000")
  code, stderr = command.signal_and_wait(signum)
  assert code == status, stderr
  assert "Traceback" not in stderr, stderr
  match = re.fullmatch(r"interrupted: interrupted after step (\d+); saved (.*)", _last_line(stderr))
  assert match, stderr
  step = int(match.group(1))
  assert step >= 2
  assert match.group(2).split(", ") == [str(out), str(metrics)]
  h, w = images.scaled_shape(40, 50, 64)
  with Image.open(out) as im:
    im.load()
    assert im.size == (w, h) and im.mode == "RGB"
  m = json.loads(metrics.read_text())
  assert m["stopped"] == f"interrupted after step {step}" and m["steps"] == step
  assert len(m["history"]["total"]) == step + 1
  assert _no_temporaries(tmp_path)


def test_stylize_batch_writes_its_summary(tmp_path, photos, tiny_weights_file):
  out_dir = tmp_path / "batch"
  command = _Command("jaxstyle.stylize", f"--content={photos}", f"--style={photos / 'p1.png'}",
                     f"--output_dir={out_dir}", "--image_size=64", "--num_steps=100000",
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
    assert im.size == tuple(reversed(images.scaled_shape(40, 50, 64)))
  assert not (out_dir / "p1__p1.png").exists()
  assert _no_temporaries(out_dir)


def test_video_keeps_the_frames_finished(tmp_path, photos, tiny_weights_file):
  out = tmp_path / "frames"
  metrics = tmp_path / "m.json"
  command = _Command("jaxstyle.cli.video", f"--pan={photos / 'p0.png'}", "--num_frames=200",
                     "--pan_px=0", "--image_size=24", f"--style={photos / 'p1.png'}",
                     "--method=warm", "--num_steps=10", f"--output={out}",
                     f"--metrics_json={metrics}", env={"JAXSTYLE_WEIGHTS": str(tiny_weights_file)})
  command.wait_for(r"frame 2/200 done")
  code, stderr = command.signal_and_wait(signal.SIGINT)
  assert code == 130, stderr
  assert "Traceback" not in stderr, stderr
  match = re.fullmatch(r"interrupted: (.*) in frame (\d+) of 200; saved the (\d+) finished "
                       r"frames of 200: (.*)", _last_line(stderr))
  assert match, stderr
  done = int(match.group(3))
  assert int(match.group(2)) == done + 1 and 2 <= done < 200
  assert match.group(4) == f"{out}, {metrics}"
  assert sorted(os.listdir(out)) == [f"frame_{t:05d}.png" for t in range(done)]
  m = json.loads(metrics.read_text())
  assert m["frames"] == done and m["frames_requested"] == 200 and m["interrupted"]
  assert m["pan_px"] == 0 and "compensated_ratio" in m  # Of the frames finished.
  assert _no_temporaries(out)


def test_training_keeps_a_checkpoint_of_the_last_step(tmp_path, photos, tiny_weights_file):
  run = tmp_path / "run"
  args = [f"--style={photos / 'p1.png'}", f"--dataset_dir={photos}", f"--output_dir={run}",
          "--crop_size=16", "--batch_size=1", "--widths=4,4,4", "--num_residual=1",
          "--style_size=32", "--sample_size=16", "--sample_every=0",
          "--checkpoint_every=100000", "--log_every=1", f"--weights={tiny_weights_file}"]
  command = _Command("jaxstyle.cli.train_feedforward", *args, "--num_steps=100000")
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
  # --resume continues from it.
  done = subprocess.run([sys.executable, "-m", "jaxstyle.cli.train_feedforward", *args,
                         f"--num_steps={step + 1}", "--resume"], cwd=ROOT,
                        env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu"),
                        capture_output=True, text=True, timeout=_STARTUP_S, check=False)
  assert done.returncode == 0, done.stderr
  assert f"resuming from {checkpoint} at step {step}" in done.stderr
  losses = json.loads((run / "losses.json").read_text())
  assert losses["step"] == step + 1 and len(losses["history"]["total"]) == step + 1
  assert losses["history"]["total"][:step] == meta["history"]["total"]
  assert (run / "model.msgpack").exists()
