"""`jaxstyle-arbitrary` (jaxstyle/cli/arbitrary.py) on random weights (tests/cli/conftest.py's
`arbitrary_weights_file`), in this process but for one real process."""

import numpy as np
import pytest
from PIL import Image

from jaxstyle import arbitrary
from jaxstyle.nets import arbitrary as nets

from tests.cli.conftest import kept_files, no_files
from tests.commands import fails_cleanly, run_main, run_subprocess


def run_cli(*args, weights=None):
  """`jaxstyle-arbitrary ARGS` in this process (tests/commands.py)."""
  return run_main("jaxstyle.cli.arbitrary", *args,
                  *([f"--weights={weights}"] if weights is not None else []))


@pytest.mark.slow
def test_directory_with_a_bad_file_is_reported_and_skipped(tmp_path, arbitrary_pictures,
                                                           arbitrary_weights_file):
  """The one real `jaxstyle-arbitrary` process (the others run in this one)."""
  done = run_subprocess("jaxstyle.cli.arbitrary", f"--content={arbitrary_pictures / 'photos'}",
                        f"--style={arbitrary_pictures / 'style.png'}",
                        f"--output={tmp_path / 'out'}", "--ext=png",
                        f"--weights={arbitrary_weights_file}")
  assert done.returncode == 0, done.stderr
  assert "2 stylized, 1 failed" in done.stdout and "notes.jpg" in done.stdout
  assert Image.open(tmp_path / "out" / "p0.png").size == (41, 30)
  assert not (tmp_path / "out" / "notes.png").exists()


def test_saved_style_vector_gives_the_same_image(tmp_path, arbitrary_pictures,
                                                 arbitrary_weights_file):
  content = arbitrary_pictures / "photos" / "p0.png"
  vector = tmp_path / "style.npy"
  first = run_cli(f"--content={content}", f"--style={arbitrary_pictures / 'style.png'}",
                  f"--output={tmp_path / 'a.png'}", f"--save_style_vector={vector}",
                  "--strength=0.7", weights=arbitrary_weights_file)
  assert first.returncode == 0, first.stderr
  assert np.load(vector).shape == (nets.STYLE_DIM,)
  again = run_cli(f"--content={content}", f"--style={vector}", f"--output={tmp_path / 'b.png'}",
                  "--strength=0.7", weights=arbitrary_weights_file)
  assert again.returncode == 0, again.stderr
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")),
                                np.asarray(Image.open(tmp_path / "b.png")))


@pytest.mark.parametrize("args, message", [
    (["--style={d}/missing.jpg"], "no such file"),
    (["--style={d}/short.npy"], "not a style vector (100 floats)"),
    (["--style={d}/style.png,{d}/style.png", "--style_blend_weights=1"],
     "gives 1 weight(s) for 2 --style value(s)"),
    (["--strength=1.5"], "--strength must be between 0 and 1"),
    (["--strength=nan"], "--strength must be a finite number"),
    (["--output={d}/out.xyz"], "must end in one of .png"),
    (["--output={d}/style.png"], "is the input"),
])
def test_bad_input_is_one_line(tmp_path, arbitrary_pictures, arbitrary_weights_file, args, message):
  args = [a.format(d=arbitrary_pictures) for a in args]
  defaults = {"--content": f"--content={arbitrary_pictures / 'photos' / 'p1.png'}",
              "--style": f"--style={arbitrary_pictures / 'style.png'}",
              "--output": f"--output={tmp_path / 'o.png'}"}
  for a in args:
    defaults.pop(a.split("=")[0], None)
  fails_cleanly(run_cli(*defaults.values(), *args, weights=arbitrary_weights_file), message)


def test_arbitrary_keeps_the_style_vector_when_the_disk_is_full(tmp_path, d, full_disk,
                                                                monkeypatch):
  vector = np.linspace(-1, 1, 100).astype(np.float32)
  monkeypatch.setattr(arbitrary, "style_vector", lambda *_, **__: vector)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.arbitrary", f"--style={d / 's.png'}",
                  f"--save_style_vector={out / 'v.npy'}", f"--weights={d / 'arbitrary.npz'}")
  [(what, kept)] = kept_files(done, full_disk.systemp)
  assert what == "the style vector" and kept.suffix == ".npy"
  np.testing.assert_array_equal(np.load(kept), vector)
  assert no_files(out)
