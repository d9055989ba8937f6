"""jaxstyle.johnson.models: model files (round trip, errors) and the committed models."""

import json
import pathlib

import numpy as np
import pytest

from jaxstyle import johnson as fast
from jaxstyle.errors import UserError
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as transformer

from tests.conftest import random_image

TINY_NET = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)


def test_model_file_round_trip_and_errors(tmp_path):
  variables = transformer.init_variables(TINY_NET, seed=2)
  model = models.FastModel(TINY_NET, variables, {"style": "x.jpg"})
  x = random_image(24, 32)
  models.save_model(model, tmp_path / "m32.msgpack")
  models.save_model(model, tmp_path / "m16.msgpack", dtype="float16")
  m32 = fast.load_model(tmp_path / "m32.msgpack")
  m16 = fast.load_model(tmp_path / "m16.msgpack")
  assert m32.config == TINY_NET and m32.meta == {"style": "x.jpg"}
  np.testing.assert_array_equal(fast.stylize_fast(m32, x), fast.stylize_fast(model, x))
  np.testing.assert_allclose(fast.stylize_fast(m16, x), fast.stylize_fast(model, x), atol=1e-2)
  (tmp_path / "junk.msgpack").write_bytes(b"\x00\x01junk")
  with pytest.raises(UserError, match="not a jaxstyle fast-style model"):
    fast.load_model(tmp_path / "junk.msgpack")
  with pytest.raises(UserError, match="does not exist"):
    fast.load_model(tmp_path / "missing.msgpack")


def test_committed_models_match_their_manifest_and_load():
  """Every model under models/ is listed with its size and sha256, is at most 8 MB and
  loads with this version of the network (a format change must come with retraining)."""
  import hashlib  # pylint: disable=import-outside-toplevel
  root = pathlib.Path(__file__).resolve().parents[2] / "models"
  manifest = json.loads((root / "manifest.json").read_text())
  listed = {m["file"] for m in manifest["models"]}
  assert listed == {p.name for p in root.glob("*.msgpack")}
  for entry in manifest["models"]:
    blob = (root / entry["file"]).read_bytes()
    assert len(blob) == entry["bytes"] <= 8 * 2**20, entry["file"]
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"], entry["file"]
    model = fast.load_model(root / entry["file"])
    assert model.meta["steps"] == entry["steps"]
    assert (root / entry["losses"]).is_file()
