"""jaxstyle.gatys.inputs: the style images scaled, rotated and recolored to the photo,
and luminance-only transfer."""

import numpy as np
import pytest

import jaxstyle
from jaxstyle import color
from jaxstyle.gatys import inputs

from tests.conftest import random_image, smooth_photo


@pytest.mark.slow
def test_luminance_transfer_keeps_the_contents_chroma(tiny_weights):
  content = smooth_photo(32, 32, 4)
  style = random_image(32, 32, 5)
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=5, log_every=0,
                            preserve_color="luminance")
  out = result.images[0]
  inside = np.all((out > 0.02) & (out < 0.98), -1)
  assert inside.mean() > 0.5
  iq, iq_content = color.rgb_to_yiq(out)[..., 1:], color.rgb_to_yiq(content)[..., 1:]
  np.testing.assert_allclose(iq[inside], iq_content[inside], atol=1e-4)
  # Without it, the colors change.
  plain = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=5, log_every=0)
  assert np.abs(color.rgb_to_yiq(plain.images[0])[..., 1:] - iq_content).mean() > 0.01


def test_histogram_preservation_recolors_the_style():
  content = smooth_photo(32, 40, 6)
  style = random_image(24, 24, 7)
  [matched] = inputs.prepare_styles(content, [style], preserve_color="histogram")
  np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0),
                             atol=0.02)
  [gray] = inputs.prepare_styles(content, [style], preserve_color="luminance")
  assert np.allclose(gray[..., 0], gray[..., 1]) and np.allclose(gray[..., 1], gray[..., 2])


def test_style_scale_resizes_relative_to_the_content():
  content = random_image(60, 80, 0)
  style = random_image(100, 50, 1)
  [scaled] = inputs.prepare_styles(content, [style], style_scale=0.5)
  assert scaled.shape == (40, 20, 3)  # Longer side = 0.5 x 80.
  [turned] = inputs.prepare_styles(content, [style], style_rotation=90)
  assert turned.shape == (50, 100, 3)
