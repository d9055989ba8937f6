import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxstyle.gatys.presets import PRESETS
from jaxstyle.gatys.config import StylizeConfig
from tests.commands import run_main


def test_gatys2016_is_the_paper():
  p = PRESETS["gatys2016"]
  assert p["pooling"] == "avg" and p["weights"] == "normalized"
  assert p["content_layers"] == ["conv4_2"]
  assert p["style_layers"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
  assert [float(w) for w in p["style_layer_weights"]] == [0.2] * 5
  assert p["content_weight"] / p["style_weight"] == pytest.approx(1e-3)
  assert p["optimizer"] == "lbfgs" and p["init"] == "noise" and p["image_size"] == 512
  assert p["tv_weight"] == 0.0


def test_photorealistic_preset():
  p = PRESETS["gatys2016_photo"]
  assert p["content_weight"] / p["style_weight"] == pytest.approx(1e-2)
  assert p["init"] == "content" and p["pooling"] == "avg"


@pytest.fixture
def weights_dir(tmp_path, tiny_weights_file):
  d = tmp_path / "w"
  d.mkdir()
  shutil.copy(tiny_weights_file, d / "vgg19.npz")
  return d


def test_preset_needs_normalized_weights(tmp_path, weights_dir, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(weights_dir / "vgg19.npz"))
  Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "c.png")
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 'c.png'}", "--preset=gatys2016",
                  f"--output={tmp_path / 'o.png'}")
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert "python -m jaxstyle.weights normalize --images=DIR" in done.stderr.splitlines()[-1]


@pytest.mark.slow
def test_preset_applies_and_flags_override(tmp_path, weights_dir, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(weights_dir / "vgg19.npz"))
  shutil.copy(weights_dir / "vgg19.npz", weights_dir / "vgg19_normalized.npz")
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(tmp_path / "c.png")
  metrics = tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 'c.png'}", "--preset=gatys2016_photo", "--image_size=32",
                  "--num_steps=2", f"--output={tmp_path / 'o.png'}", f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  m = json.loads(metrics.read_text())
  config = StylizeConfig.from_dict(m["config"])
  assert m["inputs"]["preset"] == "gatys2016_photo"
  assert config.objective.pooling == "avg" and config.start.init == "content"
  assert config.objective.style_weight == 100.0 and config.objective.content_weight == 1.0
  assert config.objective.style_layer_weights == (0.2,) * 5
  assert config.images.image_size == 32  # Given explicitly: overrides the preset's 512.
  assert os.path.basename(m["inputs"]["weights_file"]) == "vgg19_normalized.npz"
