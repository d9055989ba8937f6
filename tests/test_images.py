import os

import numpy as np
import pytest
from PIL import Image

from jaxstyle import images
from jaxstyle.errors import UserError


def _rgb(h=20, w=30):
  x = np.zeros((h, w, 3), np.uint8)
  x[..., 0] = np.arange(w)[None, :] * 8
  x[..., 1] = np.arange(h)[:, None] * 12
  x[..., 2] = 200
  return x


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_modes_become_rgb(tmp_path, mode):
  base = Image.fromarray(_rgb())
  if mode == "I;16":
    image = Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257)
    assert image.mode == "I;16"
  elif mode == "F":
    image = Image.fromarray(np.asarray(base.convert("L"), np.float32) / 255.0, "F")
  else:
    image = base.convert(mode)
  path = tmp_path / ("x.tif" if mode in ("I;16", "I", "F", "CMYK") else "x.png")
  image.save(path)
  out = images.load_image(path)
  assert out.shape == (20, 30, 3) and out.dtype == np.float32
  assert 0.0 <= out.min() and out.max() <= 1.0
  if mode in ("L", "I;16", "I", "F"):
    grey = np.asarray(base.convert("L"), np.float32) / 255
    np.testing.assert_allclose(out[..., 0], grey, atol=2 / 255)


def test_transparent_pixels_become_white(tmp_path):
  rgba = np.zeros((4, 4, 4), np.uint8)
  Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
  np.testing.assert_allclose(images.load_image(tmp_path / "t.png"), 1.0)


def test_exif_orientation_is_honored(tmp_path):
  image = Image.fromarray(_rgb(20, 30))
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotate 90 degrees clockwise to display.
  image.save(tmp_path / "o.jpg", exif=exif.tobytes())
  assert images.load_image(tmp_path / "o.jpg").shape == (30, 20, 3)


def test_resize_keeps_aspect(tmp_path):
  Image.fromarray(_rgb(20, 30)).save(tmp_path / "x.png")
  assert images.load_image(tmp_path / "x.png", size=60).shape == (40, 60, 3)
  assert images.resize(np.zeros((10, 40, 3), np.float32), 20).shape == (5, 20, 3)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"definitely not an image", "not an image"),
])
def test_bad_files(tmp_path, content, message):
  path = tmp_path / "bad.jpg"
  if content is not None:
    path.write_bytes(content)
  with pytest.raises(UserError, match=message):
    images.load_image(path)


def test_truncated_image(tmp_path):
  path = tmp_path / "full.jpg"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
  data = path.read_bytes()
  (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
  with pytest.raises(UserError, match="damaged or truncated"):
    images.load_image(tmp_path / "cut.jpg")


def test_non_positive_size(tmp_path):
  Image.fromarray(_rgb()).save(tmp_path / "x.png")
  with pytest.raises(UserError, match="must be positive"):
    images.load_image(tmp_path / "x.png", size=0)


def test_save_is_atomic_and_round_trips(tmp_path, monkeypatch):
  x = np.random.default_rng(0).uniform(size=(8, 9, 3)).astype(np.float32)
  path = images.save_image(x, tmp_path / "sub" / "o.png")
  np.testing.assert_allclose(images.load_image(path), x, atol=1 / 255)
  assert os.listdir(tmp_path / "sub") == ["o.png"]

  def broken_save(self, fp, format=None, **kw):  # pylint: disable=redefined-builtin
    fp.write(b"half a png")
    raise KeyboardInterrupt

  monkeypatch.setattr(Image.Image, "save", broken_save)
  with pytest.raises(KeyboardInterrupt):
    images.save_image(np.zeros((8, 9, 3)), path)
  # The old file is intact and no temporary file is left behind.
  assert os.listdir(tmp_path / "sub") == ["o.png"]
  np.testing.assert_allclose(images.load_image(path), x, atol=1 / 255)


def test_contact_sheet_layout():
  tiles = [np.full((10, 12, 3), v, np.float32) for v in (0.0, 0.5, 1.0, 0.25)]
  sheet = images.contact_sheet(tiles, ["a", "b", "c", "d"], pad=2, label_height=5)
  assert sheet.shape == (2 * (10 + 2 + 5) + 2, 2 * (12 + 2) + 2, 3)
  np.testing.assert_allclose(sheet[2 + 5 + 3, 2 + 3], 0.0)  # First tile, below its label.


def test_save_jpeg_under_lowers_quality_until_it_fits(tmp_path):
  noise = np.random.default_rng(0).random((192, 256, 3))
  sizes = {}
  for q in (90, 60):
    images.save_image(noise, tmp_path / f"q{q}.jpg", quality=q)
    sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
  assert sizes[90] > sizes[60]
  # A limit between the two: quality 90 is too big, so a lower quality is chosen.
  path = images.save_jpeg_under(noise, tmp_path / "fit.jpg", max_bytes=(sizes[90] + sizes[60]) // 2,
                                qualities=(90, 60))
  assert path.stat().st_size == sizes[60]
  # Room enough: the first quality.
  images.save_jpeg_under(noise, path, max_bytes=10 * sizes[90], qualities=(90, 60))
  assert path.stat().st_size == sizes[90]
  # Impossible: the last quality, not an error.
  images.save_jpeg_under(noise, path, max_bytes=100, qualities=(90, 60))
  assert path.stat().st_size == sizes[60]
