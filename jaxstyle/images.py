"""Image I/O and the network's input preprocessing.

Public images are float32 RGB in [0, 1], HWC (one) or NHWC (several). Conversion
to the network's input happens in `preprocess`, chosen by the weights' origin.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from jaxstyle._atomic import write_or_keep
from jaxstyle.checks import one_of
from jaxstyle.errors import UserError

# Caffe/Keras VGG: BGR, 0-255, mean pixel subtracted (Simonyan & Zisserman).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision: RGB in [0, 1], ImageNet mean and std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess(images: jnp.ndarray, preprocessing: str) -> jnp.ndarray:
  """Maps RGB [0, 1] images [..., 3] to the input the weights were trained on."""
  if preprocessing == "caffe":
    return images[..., ::-1] * 255.0 - jnp.asarray(CAFFE_MEAN_BGR, images.dtype)
  if preprocessing == "torchvision":
    return (images - jnp.asarray(IMAGENET_MEAN, images.dtype)) / jnp.asarray(
        IMAGENET_STD, images.dtype)
  raise ValueError(f"unknown preprocessing {preprocessing!r}")


def _to_rgb(image: Image.Image) -> Image.Image:
  """Converts any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F, ...) to 8-bit RGB."""
  if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
    array = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
    if image.mode == "F" and array.max() <= 1.0:
      top = 1.0
    array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(array, "L").convert("RGB")
  if image.mode == "P":
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA", "PA"):
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
  return image.convert("RGB")


def load_image(path: str | os.PathLike, size: int | None = None, side: str = "longer"
               ) -> np.ndarray:
  """Reads an image as float32 RGB [H, W, 3] in [0, 1], honoring EXIF orientation.

  Args:
    path: any format Pillow reads.
    size: if given, resize so that the longer (side="shorter": the shorter) side is
      `size` pixels.

  Raises:
    UserError: missing file, not an image, truncated or unreadable image, bad size.
  """
  path = pathlib.Path(path)
  if size is not None and size <= 0:
    raise UserError(f"image size must be positive, got {size}")
  if not path.exists():
    raise UserError(f"{path}: no such file")
  if path.is_dir():
    raise UserError(f"{path} is a directory, not an image")
  try:
    with Image.open(path) as image:
      image.load()
      image = ImageOps.exif_transpose(image)
      image = _to_rgb(image)
  except UnidentifiedImageError:
    raise UserError(f"{path} is not an image Pillow can read") from None
  except (OSError, SyntaxError, ValueError) as e:
    raise UserError(f"{path} is damaged or truncated ({e})") from None
  except Image.DecompressionBombError as e:
    raise UserError(f"{path} is too large to decode safely ({e})") from None
  if size is not None:
    image = resize_pil(image, size, side)
  return np.asarray(image, np.float32) / 255.0


SIDES = ("longer", "shorter")  # Which side an image size measures.


def scaled_shape(height: int, width: int, size: int, side: str = "longer") -> tuple[int, int]:
  """(h, w) with the longer (side="shorter": the shorter) side equal to `size` and the
  aspect ratio kept."""
  one_of("side", side, SIDES)
  scale = size / (max(height, width) if side == "longer" else min(height, width))
  return max(1, round(height * scale)), max(1, round(width * scale))


def resize_pil(image: Image.Image, size: int, side: str = "longer") -> Image.Image:
  h, w = scaled_shape(image.height, image.width, size, side)
  return image.resize((w, h), Image.Resampling.LANCZOS)


def resize(image: np.ndarray, size: int, side: str = "longer") -> np.ndarray:
  """Resizes a float [H, W, 3] image so its longer (or shorter) side is `size` (Lanczos)."""
  return resize_to(image, *scaled_shape(image.shape[0], image.shape[1], size, side))


def to_uint8(image: np.ndarray) -> np.ndarray:
  return (np.clip(np.asarray(image, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def save_image(image: np.ndarray, path: str | os.PathLike, *, quality: int | None = None
               ) -> pathlib.Path:
  """Writes a [H, W, 3] image in [0, 1] atomically (a temporary file, then rename);
  quality: JPEG quality (None: Pillow's default, 75).

  Raises:
    OutputError (an OSError and a UserError): `path` could not be written (e.g. no
      space left); the image was kept in the system's temporary directory instead, at
      the path the message names (`kept`).
  """
  path = pathlib.Path(path)
  fmt = Image.registered_extensions().get(path.suffix.lower())
  if fmt is None:
    raise UserError(f"cannot tell the image format of {path} from its extension")
  options = {"quality": quality} if quality is not None and fmt == "JPEG" else {}
  picture = Image.fromarray(to_uint8(image), "RGB")

  def write(tmp):
    with open(tmp, "wb") as f:
      picture.save(f, format=fmt, **options)

  return write_or_keep(path, write, what="the image")


# Figures in the repository are JPEGs under this size (it stays small).
FIGURE_BYTES = 1_000_000
FIGURE_QUALITIES = (90, 85, 80, 70, 60, 50, 40)


def save_jpeg_under(image: np.ndarray, path: str | os.PathLike, *,
                    max_bytes: int = FIGURE_BYTES,
                    qualities: Sequence[int] = FIGURE_QUALITIES) -> pathlib.Path:
  """Saves a JPEG at the first (highest) of `qualities` whose file fits max_bytes, or
  at the last one."""
  path = pathlib.Path(path)
  for quality in qualities:
    save_image(image, path, quality=quality)
    if path.stat().st_size <= max_bytes:
      break
  return path


def contact_sheet(images: Sequence[np.ndarray], labels: Sequence[str] | None = None, *,
                  columns: int | None = None, pad: int = 4, label_height: int = 14) -> np.ndarray:
  """Tiles [H, W, 3] images in a labelled grid on white; returns [H', W', 3] in [0, 1]."""
  if not images:
    raise ValueError("contact_sheet needs at least one image")
  n = len(images)
  columns = columns or min(n, math.ceil(math.sqrt(n)) if n > 3 else n)
  rows = math.ceil(n / columns)
  cell_h = max(im.shape[0] for im in images)
  cell_w = max(im.shape[1] for im in images)
  top = label_height if labels else 0
  sheet = Image.new("RGB", (columns * (cell_w + pad) + pad,
                            rows * (cell_h + pad + top) + pad), "white")
  draw = ImageDraw.Draw(sheet)
  for i, image in enumerate(images):
    r, c = divmod(i, columns)
    x = pad + c * (cell_w + pad)
    y = pad + r * (cell_h + pad + top)
    if labels:
      draw.text((x + 2, y + 1), str(labels[i]), fill="black")
    sheet.paste(Image.fromarray(to_uint8(image), "RGB"), (x, y + top))
  return np.asarray(sheet, np.float32) / 255.0


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Resizes a float [H, W, 3] image to exactly height x width (Lanczos)."""
  if image.shape[:2] == (height, width):
    return np.asarray(image, np.float32)
  channels = [Image.fromarray(np.asarray(image[..., c], np.float32), "F").resize(
      (width, height), Image.Resampling.LANCZOS) for c in range(image.shape[-1])]
  return np.clip(np.stack([np.asarray(c) for c in channels], -1), 0, 1).astype(np.float32)


def _inscribed_size(width: int, height: int, radians: float) -> tuple[int, int]:
  """The largest axis-aligned rectangle inside a width x height one rotated by `radians`."""
  sin_a, cos_a = abs(math.sin(radians)), abs(math.cos(radians))
  long_side, short_side = max(width, height), min(width, height)
  if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
    # Two corners of the rectangle touch the long sides only.
    half = 0.5 * short_side
    w, h = (half / sin_a, half / cos_a) if width >= height else (half / cos_a, half / sin_a)
  else:
    cos_2a = cos_a * cos_a - sin_a * sin_a
    w, h = ((width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a)
  return max(1, int(w)), max(1, int(h))


def rotate_image(image: np.ndarray, degrees: float) -> np.ndarray:
  """Rotates [H, W, 3] counter-clockwise, cropped to the largest rectangle with no empty
  corners (multiples of 90 degrees are exact and lose nothing)."""
  image = np.asarray(image, np.float32)
  rest = float(degrees) % 90.0
  if min(rest, 90.0 - rest) < 1e-9:
    return np.ascontiguousarray(np.rot90(image, int(round(degrees / 90.0)) % 4))
  height, width = image.shape[:2]
  channels = [Image.fromarray(image[..., c], "F").rotate(
      degrees, resample=Image.Resampling.BICUBIC, expand=True) for c in range(image.shape[-1])]
  rotated = np.stack([np.asarray(c) for c in channels], -1)
  w, h = _inscribed_size(width, height, math.radians(degrees))
  top = (rotated.shape[0] - h) // 2
  left = (rotated.shape[1] - w) // 2
  return np.clip(rotated[top:top + h, left:left + w], 0, 1).astype(np.float32)


def load_mask(path: str | os.PathLike, height: int, width: int) -> np.ndarray:
  """A grayscale mask [height, width] in [0, 1] (white: 1) from any image file."""
  gray = load_image(path).mean(axis=-1, keepdims=True)
  return resize_to(np.repeat(gray, 3, -1), height, width)[..., 0]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def find_images(directory: str | os.PathLike, *, recursive: bool = False,
                what: str = "directory") -> list[pathlib.Path]:
  """The image files (by suffix, `IMAGE_SUFFIXES`) of a directory, sorted by path.

  Raises:
    UserError: not a directory, or no image files in it (`what` names it).
  """
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise UserError(f"{what} {directory} is not a directory")
  entries = directory.rglob("*") if recursive else directory.iterdir()
  found = sorted(p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
  if not found:
    raise UserError(f"{what} {directory} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
  return found


def list_images(pattern: str | os.PathLike) -> list[pathlib.Path]:
  """The files a path names: one file, every image file in a directory, or a glob.

  Raises:
    UserError: nothing matches.
  """
  path = pathlib.Path(pattern)
  if path.is_dir():
    return find_images(path)
  if any(ch in str(pattern) for ch in "*?["):
    import glob  # pylint: disable=import-outside-toplevel
    found = sorted(pathlib.Path(p) for p in glob.glob(str(pattern)) if os.path.isfile(p))
    if not found:
      raise UserError(f"no files match {pattern}")
    return found
  return [path]
