"""What the command tests (tests/cli/) share: their input files, and the checks that a
command refused its outputs, wrote nothing, or kept its results when the disk was full."""

import pathlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxstyle import images, video
from jaxstyle.johnson import models
from jaxstyle.nets import johnson
from jaxstyle.weights import arbitrary as arbitrary_lib

from tests.commands import fails_cleanly
from tests.conftest import random_image

MISSING = "/no/such/jaxstyle-input"  # Read only once a command starts working.


def save_picture(image, path, mode="RGB"):
  Image.fromarray((image * 255).astype(np.uint8), mode).save(path)
  return path


# --- `jaxstyle`'s pictures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  """A 24x32 photo (JPEG, and PNG), grey and RGBA 32x32 styles, a 32x32 style (PNG), a
  file that is not an image and a truncated JPEG."""
  d = tmp_path_factory.mktemp("pictures")
  save_picture(random_image(24, 32, 0), d / "content.jpg")
  save_picture(random_image(32, 32, 1)[..., 0], d / "grey.png", "L")
  rgba = (random_image(32, 32, 2) * 255).astype(np.uint8)
  Image.fromarray(np.dstack([rgba, np.full((32, 32), 200, np.uint8)]), "RGBA").save(d / "rgba.png")
  (d / "notes.jpg").write_text("not an image")
  data = (d / "content.jpg").read_bytes()
  (d / "cut.jpg").write_bytes(data[: len(data) // 2])
  images.save_image(random_image(24, 32, 0), d / "content.png")
  images.save_image(random_image(32, 32, 1), d / "style.png")
  return d


def stylize_args(pictures, weights, out, *flags):
  return (f"--content={pictures / 'content.png'}", f"--style={pictures / 'style.png'}",
          f"--output={out}", "--image_size=32", f"--weights={weights}", *flags)


# --- Every command refuses to overwrite its inputs ----------------------------------------


def files_in(directory):
  """{relative path: bytes} of every file under `directory`."""
  return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*")
          if p.is_file()}


def assert_refused(done, output, the_input, directory, before):
  """The command named `output` and `the_input` in one error line and wrote nothing."""
  fails_cleanly(done, f"error: the output {output} is the input {the_input}")
  assert done.returncode == 1
  assert files_in(directory) == before


@pytest.fixture(scope="module")
def _inputs_once(tmp_path_factory, tiny_weights_file):
  d = tmp_path_factory.mktemp("inputs") / "in"
  d.mkdir()
  for i, name in enumerate(["c.png", "s.png", "m.png", "i.png", "o_seed1.png",
                            "o_sheet.png", "photos/a.png", "photos/b.jpg",
                            "batch/a.png", "batch/a__s.png", "frames/frame_00000.png",
                            "frames/frame_00001.png"]):
    (d / name).parent.mkdir(exist_ok=True)
    save_picture(random_image(24, 32, i), d / name)
  config = johnson.ImageTransformConfig(widths=(4, 4, 4), num_residual=1)
  models.save_model(models.FastModel(config, johnson.init_variables(config, seed=0)),
                    d / "model.msgpack")
  (d / "model.png").write_bytes((d / "model.msgpack").read_bytes())
  (d / "w.npz").write_bytes(tiny_weights_file.read_bytes())
  video.write_frames(np.stack([random_image(24, 32, t) for t in range(3)]), d / "clip.gif")
  return d


@pytest.fixture
def inputs(tmp_path, _inputs_once):
  """A folder of small inputs for every command: images, a frames folder, a GIF, a tiny
  feed-forward model and a copy of the tiny VGG weights."""
  return shutil.copytree(_inputs_once, tmp_path / "in")


# --- Where the results go when the output cannot be written (issue 26, part 5) -------------


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
  arbitrary_lib.save(arbitrary_lib.random_weights(seed=0), d / "arbitrary.npz")
  return d


def kept_files(done, systemp):
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


def no_files(folder):
  return [p for p in folder.rglob("*") if p.is_file()] == []


def identity_network(model, images, **_):
  return images


# --- The arbitrary-style network's ---------------------------------------------------------


@pytest.fixture(scope="module")
def arbitrary_pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("arbitrary_pictures")
  photos = d / "photos"
  photos.mkdir()
  for i, (h, w) in enumerate(((30, 41), (36, 36))):
    Image.fromarray((random_image(h, w, seed=i) * 255).astype(np.uint8)).save(
        photos / f"p{i}.png")
  (photos / "notes.jpg").write_text("not an image")
  Image.fromarray((random_image(48, 40, seed=5) * 255).astype(np.uint8)).save(d / "style.png")
  Image.fromarray((random_image(40, 80, seed=6) * 255).astype(np.uint8)).save(d / "wide.png")
  np.save(d / "short.npy", np.zeros(7, np.float32))
  return d


@pytest.fixture(scope="module")
def arbitrary_weights_file(tmp_path_factory):
  """The arbitrary-style networks of the real shapes, random."""
  path = tmp_path_factory.mktemp("arbitrary_random") / "arbitrary_style.npz"
  arbitrary_lib.save(arbitrary_lib.random_weights(seed=0), path)
  return path
