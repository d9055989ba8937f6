"""jaxstyle.kernels.winograd: Winograd's 3x3 convolutions and their transposes agree with
XLA's."""

import jax
import numpy as np
import pytest

from jaxstyle.kernels import winograd
from tests.kernels.conftest import conv_arrays, direct_conv




def _close(a, b, tol=2e-5):
  a, b = np.asarray(a), np.asarray(b)
  assert np.abs(a - b).max() <= tol * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(1, 8, 12), (2, 7, 9), (1, 1, 5), (1, 6, 1), (1, 10, 13)])
def test_winograd_convolution_and_its_transpose_match_xla(shape, m):
  """F(2x2) and F(4x4); sizes that are and are not multiples of the tile (padded and
  cropped), batches, 1-pixel maps. One jitted program per case (op by op, each of the
  many small operations compiles on its own: 3-4x slower)."""

  @jax.jit
  def outputs(x, kernel, g):
    u = winograd.kernel_transform(kernel, m)
    _, vjp = jax.vjp(lambda x: direct_conv(x, kernel), x)
    return (winograd.conv(x, u, jax.lax.Precision.HIGHEST), direct_conv(x, kernel),
            winograd.conv_transpose(g, u, jax.lax.Precision.HIGHEST),
            vjp(g)[0])

  y, y_ref, gx, gx_ref = outputs(*conv_arrays(shape, 5, 4))
  _close(y, y_ref)
  _close(gx, gx_ref)
