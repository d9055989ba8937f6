"""`jaxstyle-train-fast` (jaxstyle/cli/train_fast.py): what it refuses before any work,
and where the model goes when the disk is full."""

import pytest

from jaxstyle.johnson import models, training

from tests.cli.conftest import MISSING, assert_refused, files_in, kept_files, no_files
from tests.commands import fails_cleanly, run_main


def _train_args(d, *extra):
  return [f"--style={d / 's.png'}", f"--dataset_dir={d / 'photos'}",
          f"--output_dir={d / 'run'}", f"--weights={d / 'w.npz'}", "--crop_size=16",
          "--batch_size=1", "--widths=4,4,4", "--num_residual=1", "--num_steps=1", *extra]


@pytest.mark.parametrize("model_out, extra", [
    ("s.png", []), ("c.png", ["--samples={d}/m.png,{d}/c.png"]), ("w.npz", [])])
def test_train_fast_refuses_to_overwrite_an_input(inputs, model_out, extra):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(
      d, f"--model_out={d / model_out}", *[a.format(d=d) for a in extra]))
  assert_refused(done, d / model_out, d / model_out, d, before)


def test_train_fast_refuses_a_model_out_that_is_its_checkpoint(inputs):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(
      d, f"--model_out={d / 'run' / 'x' / '..' / 'checkpoint.msgpack'}"))
  fails_cleanly(done, "is the run's own checkpoint.msgpack: choose another path")
  assert files_in(d) == before and not (d / "run").exists()


@pytest.mark.parametrize("flag", [
    "--learning_rate=nan", "--content_weight=inf", "--style_weight=nan", "--tv_weight=inf",
    "--saturation_weight=nan"])
def test_train_fast_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(d, flag))
  name, value = flag[2:].split("=")
  fails_cleanly(done, f"error: --{name} must be a finite number, got {float(value)}")
  assert files_in(d) == before and not (d / "run").exists()


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
  [(what, kept)] = kept_files(done, full_disk.systemp)
  assert what == "the model" and kept.read_bytes() == (d / "model.msgpack").read_bytes()
  assert no_files(out)


def test_train_fast_refuses_a_zero_learning_rate(tmp_path, d):
  done = run_main("jaxstyle.cli.train_fast", f"--style={d / 's.png'}",
                  f"--dataset_dir={d / 'photos'}", f"--output_dir={tmp_path / 'run'}",
                  "--learning_rate=0", f"--weights={MISSING}.npz")
  fails_cleanly(done, "error: --learning_rate must be positive, got 0")
  assert done.returncode == 1 and not (tmp_path / "run").exists()
