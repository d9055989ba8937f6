"""jaxstyle.gatys.pyramid: the coarse-to-fine schedule."""

import numpy as np
import pytest

import jaxstyle
from jaxstyle import images
from jaxstyle.gatys import lbfgs

from tests.conftest import smooth_photo


@pytest.mark.slow
def test_scales_refine_from_the_upsampled_coarse_result(tiny_weights):
  """scales=2: the fine level starts from the coarse level's last image, upsampled.

  Seen through the callback: the first fine image is within one first L-BFGS step
  (lbfgs.FIRST_STEP per pixel) of the upsampled coarse result, and its loss is far below
  that of a fresh start from white noise at the full size after one step (measured
  7% at 32x32, 6% at 40x48). Fails if the fine level restarts from noise (0.75 from the noise start), starts
  from the coarse start or a wrongly resized image, or the steps are miscounted.
  """
  content, style = smooth_photo(32, 32, 0), smooth_photo(32, 32, 1)[::-1].copy()
  seen = {}
  paper = dict(init="noise", content_normalization="sum", style_weight=100.0)
  result = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=6, log_every=0,
                            scales=2, scale_steps=[6, 3], callback_every=1,
                            callback=lambda k, x: seen.setdefault(k, x), **paper)
  assert result.images.shape == (1, 32, 32, 3)
  assert [(l["height"], l["width"], l["steps"]) for l in result.run["scales"]] == [
      (16, 16, 6), (32, 32, 3)]
  assert len(result.history["total"]) == 6 + 3 + 1 and result.steps == 9
  assert np.all(np.diff(result.history["time"]) >= 0)
  assert sorted(seen) == list(range(1, 10))
  assert seen[6].shape == (1, 16, 16, 3) and seen[7].shape == (1, 32, 32, 3)
  upsampled = images.resize_to(np.clip(seen[6][0], 0, 1), 32, 32)
  assert np.abs(seen[7][0] - upsampled).max() <= lbfgs.FIRST_STEP + 1e-5
  np.testing.assert_array_equal(np.clip(seen[9], 0, 1), result.images)
  fresh = jaxstyle.stylize(content, style, weights=tiny_weights, num_steps=1, log_every=0,
                           **paper)
  assert result.history["total"][7, 0] < 0.25 * fresh.history["total"][1, 0]
  with pytest.raises(ValueError, match="scale_steps"):
    jaxstyle.stylize(content, style, weights=tiny_weights, scales=2, scale_steps=[5])
