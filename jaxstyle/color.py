"""Color preservation: Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural
Artistic Style Transfer" (arXiv:1606.05897, 2016).

Two ways to keep the content photo's colors:

- "histogram": before the transfer, give the style image the content's color mean and
  covariance with an affine map of its RGB values (the paper's Eq. 1-2, with the
  symmetric "Image Analogies" square roots), then transfer as usual.
- "luminance": transfer on luminance only (the style's luminance matched to the
  content's mean and standard deviation), then put the result's luminance together
  with the content's chroma (YIQ's I and Q channels).

Images are float32 RGB [H, W, 3] in [0, 1] (NumPy; these run once, outside jit).
"""

from __future__ import annotations

import numpy as np

MODES = ("luminance", "histogram")

# NTSC YIQ, the color space the paper uses.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
  return np.asarray(image, np.float64) @ _RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
  return np.asarray(image, np.float64) @ _YIQ_TO_RGB.T


def luminance(image: np.ndarray) -> np.ndarray:
  """Y of YIQ: [H, W, 3] -> [H, W]."""
  return rgb_to_yiq(image)[..., 0]


def gray_rgb(y: np.ndarray) -> np.ndarray:
  """A luminance image [H, W] as the RGB image [H, W, 3] the network takes (R = G = B)."""
  return np.repeat(np.clip(y, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32)


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
  """The style's luminance with the content's mean and standard deviation (paper Eq. 3)."""
  std = style_y.std()
  scaled = (style_y - style_y.mean()) * (content_y.std() / std if std > 1e-8 else 0.0)
  return scaled + content_y.mean()


def combine_luminance(y: np.ndarray, content: np.ndarray) -> np.ndarray:
  """The RGB image with luminance `y` [H, W] and the content's chroma (I, Q)."""
  yiq = rgb_to_yiq(content)
  yiq[..., 0] = y
  return np.clip(yiq_to_rgb(yiq), 0.0, 1.0).astype(np.float32)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
  values, vectors = np.linalg.eigh(cov)
  values = np.maximum(values, 1e-6)  # A flat channel (e.g. a gray painting) stays finite.
  power = -0.5 if inverse else 0.5
  return (vectors * values**power) @ vectors.T


def match_color(style: np.ndarray, content: np.ndarray) -> np.ndarray:
  """The style image with the content's RGB mean and covariance (paper Eq. 1-2).

  x' = A (x - mu_S) + mu_C with A = Sigma_C^(1/2) Sigma_S^(-1/2) (symmetric roots: the
  Image Analogies variant; the paper also gives a Cholesky one), clipped to [0, 1].
  """
  s = np.asarray(style, np.float64).reshape(-1, 3)
  c = np.asarray(content, np.float64).reshape(-1, 3)
  a = _sqrtm(np.cov(c, rowvar=False)) @ _sqrtm(np.cov(s, rowvar=False), inverse=True)
  matched = (s - s.mean(0)) @ a.T + c.mean(0)
  return np.clip(matched, 0.0, 1.0).reshape(np.shape(style)).astype(np.float32)
