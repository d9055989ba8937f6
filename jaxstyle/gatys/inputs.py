"""The images a Gatys run is given, checked and prepared as the network will see them.

Every input image is checked once (`check_image`: RGB, at least 16 px a side, finite);
the style images are scaled, rotated and color-matched to the photo (`prepare_styles`);
masks are checked (`check_masks`); and with luminance-only transfer the results get the
photo's colors back (`restore_color`, the other half of `preserve_color="luminance"`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jaxstyle import color
from jaxstyle import images as images_lib
from jaxstyle.images import resize_to


def check_image(name: str, image) -> np.ndarray:
  """`image` as float32 [H, W, 3]; ValueError naming `name` if it is not RGB, is smaller
  than 16 px a side (VGG's four poolings) or holds NaN or inf."""
  image = np.asarray(image, np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"{name} must be an RGB image [H, W, 3], got shape {image.shape}")
  if min(image.shape[:2]) < 16:
    raise ValueError(f"{name} is {image.shape[1]}x{image.shape[0]} px; at least 16 px per side")
  if not np.all(np.isfinite(image)):
    raise ValueError(f"{name} contains NaN or inf")
  return image


def prepare_styles(content: np.ndarray, styles: Sequence[np.ndarray], *,
                   style_scale: float | None = None, style_rotation: float = 0.0,
                   preserve_color: str | None = None) -> list[np.ndarray]:
  """The style images as the network will see them: scaled, rotated, color-matched.

  Args:
    content: RGB [H, W, 3]; the reference for `style_scale` and for colors.
    styles: RGB [h, w, 3] images.
    style_scale: resize each style so its longer side is style_scale x the content's
      longer side (None: as given).
    style_rotation: degrees counter-clockwise (cropped to the largest full rectangle).
    preserve_color: None, "histogram" (the style gets the content's color mean and
      covariance) or "luminance" (the style's luminance, matched to the content's,
      as a gray RGB image).
  """
  out = []
  for i, style in enumerate(styles):
    if style_scale is not None:
      size = round(style_scale * max(content.shape[:2]))
      style = resize_to(style, *images_lib.scaled_shape(*style.shape[:2], size))
    if style_rotation:
      style = images_lib.rotate_image(style, style_rotation)
    if preserve_color == "histogram":
      style = color.match_color(style, content)
    elif preserve_color == "luminance":
      style = color.gray_rgb(color.match_luminance(color.luminance(style),
                                                   color.luminance(content)))
    out.append(check_image(f"style image {i + 1} (after scaling and rotation)", style))
  return out


def check_masks(style_masks) -> list[np.ndarray] | None:
  """Spatial control's masks as float32 [H, W] in [0, 1] (None: no masks)."""
  if style_masks is None:
    return None
  masks = []
  for i, m in enumerate(style_masks):
    m = np.asarray(m, np.float32)
    if m.ndim != 2 or not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
      raise ValueError(f"style mask {i + 1} must be [H, W] with values in [0, 1]")
    masks.append(m)
  return masks


def check_temporal(temporal, height: int, width: int
                   ) -> tuple[np.ndarray, np.ndarray] | None:
  """A temporal target (warped previous output [H, W, 3], reliability [H, W]), checked
  against the content's (the output's) size and [0, 1], as float32 (None: none)."""
  if temporal is None:
    return None
  warped, reliable = (np.asarray(a, np.float32) for a in temporal)
  if warped.shape != (height, width, 3) or reliable.shape != (height, width):
    raise ValueError(f"the warped previous output {warped.shape} and its reliability "
                     f"{reliable.shape} must have the content's size {(height, width)}")
  for name, a in (("warped previous output", warped), ("reliability", reliable)):
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
      raise ValueError(f"the {name} must have values in [0, 1]")
  return warped, reliable


def restore_color(images: np.ndarray, original: np.ndarray, preserve_color: str | None
                  ) -> np.ndarray:
  """With luminance-only transfer, the results' luminance with the photo's colors."""
  if preserve_color != "luminance":
    return images
  return np.stack([color.combine_luminance(color.luminance(im), original) for im in images])
