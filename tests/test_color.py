"""jaxstyle.color: color matching and luminance (Gatys et al. 2016, "Preserving Color in
Neural Artistic Style Transfer")."""

import numpy as np

from jaxstyle import color

from tests.conftest import random_image, smooth_photo


def test_match_color_gives_the_contents_mean_and_covariance():
  content = smooth_photo(40, 50, 0)
  style = np.clip(random_image(30, 30, 1) * [0.5, 0.9, 0.3] + [0.3, 0.0, 0.2], 0, 1)
  matched = color.match_color(style, content)
  c, m = content.reshape(-1, 3), matched.reshape(-1, 3)
  np.testing.assert_allclose(m.mean(0), c.mean(0), atol=2e-3)
  np.testing.assert_allclose(np.cov(m, rowvar=False), np.cov(c, rowvar=False), atol=2e-3)
  assert matched.shape == style.shape


def test_luminance_roundtrip_and_combination():
  content = smooth_photo(20, 30, 2)
  np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(content)), content, atol=1e-6)
  y = np.full(content.shape[:2], 0.4)
  combined = color.combine_luminance(y, content)
  yiq, yiq_content = color.rgb_to_yiq(combined), color.rgb_to_yiq(content)
  inside = np.all((combined > 0.01) & (combined < 0.99), -1)  # Where nothing was clipped.
  np.testing.assert_allclose(yiq[..., 0][inside], 0.4, atol=1e-5)
  np.testing.assert_allclose(yiq[..., 1:][inside], yiq_content[..., 1:][inside], atol=1e-5)
  matched = color.match_luminance(color.luminance(random_image(10, 10, 3)),
                                  color.luminance(content))
  assert abs(matched.mean() - color.luminance(content).mean()) < 1e-6
  assert abs(matched.std() - color.luminance(content).std()) < 1e-6
