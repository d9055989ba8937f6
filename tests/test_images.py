import os

import numpy as np
import pytest
from PIL import Image

from jaxstyle import images
from jaxstyle.errors import UserError
from tests.conftest import random_image


def _rgb(h=20, w=30):
  x = np.zeros((h, w, 3), np.uint8)
  x[..., 0] = np.arange(w)[None, :] * 8
  x[..., 1] = np.arange(h)[:, None] * 12
  x[..., 2] = 200
  return x


# Colours whose every conversion is known by hand (RGB 0-255): an image of 8x8 blocks, so
# that a JPEG keeps them (8x8 DCT blocks of one colour each) and any mix-up of positions,
# channels or inversions shows in the pixels.
_COLOURS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                     [[255, 255, 255], [0, 0, 0], [40, 120, 200]]], np.uint8)  # 2 x 3


def _blocks(colours, size=8):
  return np.repeat(np.repeat(np.asarray(colours), size, 0), size, 1)


def _case(mode):
  """(a Pillow image of `mode`, the float RGB [H, W, 3] that load_image must return)."""
  if mode == "RGBA":  # Opaque, transparent and half-transparent: composited on white.
    alpha = np.array([[255, 0, 128], [255, 255, 0]], np.uint8)[..., None]
    rgba = np.concatenate([_COLOURS, alpha], -1)
    want = (_COLOURS * (alpha / 255) + 255 * (1 - alpha / 255)) / 255
    return Image.fromarray(_blocks(rgba), "RGBA"), _blocks(want)
  if mode == "LA":
    la = np.array([[[200, 255], [200, 0], [0, 128]]], np.uint8)  # Grey, alpha.
    grey = (la[..., 0] * (la[..., 1] / 255) + 255 * (1 - la[..., 1] / 255)) / 255
    return Image.fromarray(_blocks(la), "LA"), _blocks(np.repeat(grey[..., None], 3, -1))
  if mode == "P":  # A palette (not a web-safe one) and one transparent index.
    image = Image.fromarray(_blocks(np.array([[0, 1, 2]], np.uint8)), "P")
    image.putpalette([255, 0, 0, 0, 128, 255, 10, 20, 30] + [0] * 759)
    image.info["transparency"] = 2
    want = np.array([[[255, 0, 0], [0, 128, 255], [255, 255, 255]]]) / 255
    return image, _blocks(want)
  if mode == "CMYK":  # Cyan, magenta, yellow, black, none, blue, red, half cyan.
    cmyk = np.array([[[255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255]],
                     [[0, 0, 0, 0], [255, 255, 0, 0], [0, 255, 255, 0], [128, 0, 0, 0]]],
                    np.uint8)
    want = np.array([[[0, 255, 255], [255, 0, 255], [255, 255, 0], [0, 0, 0]],
                     [[255, 255, 255], [0, 0, 255], [255, 0, 0], [127, 255, 255]]]) / 255
    return Image.fromarray(_blocks(cmyk), "CMYK"), _blocks(want)
  if mode == "1":
    bits = _blocks(np.array([[0, 255, 0], [255, 0, 255]], np.uint8))
    return Image.fromarray(bits).convert("1"), np.repeat(bits[..., None] / 255, 3, -1)
  # Greys: L, and the 16-bit, 32-bit integer and float modes scaled to 0-255.
  grey = _blocks(np.array([[0, 51, 102], [153, 204, 255]], np.uint8))
  want = np.repeat(grey[..., None] / 255, 3, -1)
  if mode == "L":
    return Image.fromarray(grey, "L"), want
  if mode == "I;16":
    image = Image.fromarray(grey.astype(np.uint16) * 257)
    assert image.mode == "I;16"
    return image, want
  if mode == "I":
    return Image.fromarray(grey.astype(np.int32) * 257, "I"), want
  if mode == "F":
    return Image.fromarray(grey.astype(np.float32) / 255, "F"), want
  raise AssertionError(mode)


@pytest.mark.parametrize("mode, ext", [
    ("L", "png"), ("LA", "png"), ("P", "png"), ("RGBA", "png"), ("CMYK", "tif"),
    ("CMYK", "jpg"), ("I;16", "tif"), ("I", "tif"), ("F", "tif"), ("1", "png")])
def test_modes_become_rgb(tmp_path, mode, ext):
  """Every mode's pixels against colours known by hand: transparency on white, the
  palette looked up, CMYK (TIFF, and Adobe's inverted JPEG) not inverted, 16-bit and
  float greys scaled to [0, 1]."""
  image, want = _case(mode)
  path = tmp_path / f"x.{ext}"
  image.save(path, **({"quality": 95} if ext == "jpg" else {}))
  with Image.open(path) as saved:
    assert saved.mode == mode
  out = images.load_image(path)
  assert out.shape == want.shape and out.dtype == np.float32
  np.testing.assert_allclose(out, want, atol=(6 if ext == "jpg" else 1.01) / 255)


def test_transparent_pixels_become_white(tmp_path):
  rgba = np.zeros((4, 4, 4), np.uint8)
  Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
  np.testing.assert_allclose(images.load_image(tmp_path / "t.png"), 1.0)


# EXIF orientation -> what the stored pixels become for display (the EXIF 2.3 spec's
# row-0/column-0 table): 2 mirrored, 3 turned 180 degrees, 4 flipped, 5 transposed,
# 6 turned 90 degrees clockwise, 7 transverse, 8 turned 90 degrees counter-clockwise.
_ORIENTED = {1: lambda x: x, 2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1],
             4: lambda x: x[::-1], 5: lambda x: x.transpose(1, 0, 2),
             6: lambda x: np.rot90(x, -1), 7: lambda x: np.rot90(x, 2).transpose(1, 0, 2),
             8: lambda x: np.rot90(x, 1)}


@pytest.mark.parametrize("orientation", sorted(_ORIENTED))
def test_exif_orientation_is_honored(tmp_path, orientation):
  """A camera's JPEG of six coloured blocks (no symmetry) with each orientation tag:
  the pixels come out turned or mirrored the right way, not only the shape."""
  stored = _blocks(_COLOURS)  # 16 x 24.
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=95,
                               subsampling=0)
  want = _ORIENTED[orientation](stored) / 255
  np.testing.assert_allclose(images.load_image(tmp_path / "o.jpg"), want, atol=6 / 255)


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


def test_rotation_leaves_no_empty_corners():
  ones = np.ones((40, 60, 3), np.float32)
  for degrees in (30, 60, -45, 10, 135):
    rotated = images.rotate_image(ones, degrees)
    assert rotated.min() > 0.999, degrees
    assert rotated.shape[0] * rotated.shape[1] > 0.25 * 40 * 60
  x = random_image(40, 60, 0)
  np.testing.assert_array_equal(images.rotate_image(x, 90), np.rot90(x))
  np.testing.assert_array_equal(images.rotate_image(x, 0), x)
  assert images.rotate_image(x, 30).shape[:2] == (23, 40)
