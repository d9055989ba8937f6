"""What the commands print when the work itself fails: running out of host memory
(MemoryError) or of device memory (XLA's RESOURCE_EXHAUSTED) is one `error:` line and
exit status 1, in every command (`common.main_for`); any other exception is a bug and
keeps its traceback. In-process (`tests.commands.run_main`), with the library call that
would run out of memory replaced by one that raises, so nothing is compiled."""

import jax
import numpy as np
import pytest
from PIL import Image

from jaxstyle.cli import fast, video
from jaxstyle.gatys import transfer
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer
from jaxstyle.weights import arbitrary as arbitrary_weights
from tests.commands import run_main
from tests.conftest import random_image

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
def inputs(tmp_path_factory):
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
def test_out_of_memory_is_one_error_line(command, exception, message, inputs,
                                         tiny_weights_file, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tiny_weights_file))  # jaxstyle-video's VGG-19.
  module, args, (owner, name) = _command(command, inputs, tiny_weights_file)
  monkeypatch.setattr(owner, name, _raises(exception))
  done = run_main(module, *args)
  assert done.returncode == 1, done.stderr
  assert "Traceback" not in done.stderr, done.stderr
  lines = done.stderr.strip().splitlines()
  assert [l for l in lines if l.startswith("error:")] == [message], done.stderr
  assert lines[-1] == message
  assert not (inputs / "out.png").exists() and not (inputs / "frames").exists()


@pytest.mark.parametrize("command", ["jaxstyle", "jaxstyle-fast"])
@pytest.mark.parametrize("exception", [RuntimeError("a bug"), _XLA_BUG],
                         ids=["RuntimeError", "JaxRuntimeError-INTERNAL"])
def test_other_failures_keep_their_traceback(command, exception, inputs, tiny_weights_file,
                                             monkeypatch):
  """Only running out of memory is a user's matter: a bug is not reported as one."""
  module, args, (owner, name) = _command(command, inputs, tiny_weights_file)
  monkeypatch.setattr(owner, name, _raises(exception))
  with pytest.raises(type(exception), match=str(exception)):
    run_main(module, *args)
