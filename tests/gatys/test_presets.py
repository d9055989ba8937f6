import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import jaxstyle
from jaxstyle import losses
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.presets import PRESETS
from tests.commands import run_main


def test_gatys2016_is_the_paper():
  p = jaxstyle.preset("gatys2016").flat()
  assert p["pooling"] == "avg" and p["weights_file"] == "normalized"
  assert p["content_layers"] == ("conv4_2",)
  assert p["style_layers"] == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
  assert p["style_layer_weights"] == (0.2,) * 5 and p["content_normalization"] == "sum"
  assert p["content_weight"] / p["style_weight"] == pytest.approx(1e-3)
  assert p["optimizer"] == "lbfgs" and p["init"] == "noise" and p["image_size"] == 512
  assert p["tv_weight"] == 0.0 and p["scales"] == 1


def test_photorealistic_preset():
  p = jaxstyle.preset("gatys2016_photo").flat()
  assert p["content_weight"] / p["style_weight"] == pytest.approx(1e-2)
  assert p["init"] == "content" and p["pooling"] == "avg"


def test_presets_are_configs_for_the_api_and_the_cli():
  assert set(PRESETS) == {"gatys2016", "gatys2016_photo", "gatys2016_code", "crowsonkb",
                          "neural_style"}
  for name, config in PRESETS.items():
    assert isinstance(config, StylizeConfig) and jaxstyle.preset(name) is config
    assert config.images.image_size == 512
  with pytest.raises(ValueError, match="unknown preset 'gatys'; the presets are gatys2016"):
    jaxstyle.preset("gatys")


def test_gatys2016_code_is_the_authors_released_code():
  """Their NeuralStyleTransfer.ipynb: Gram / positions, mean squared error over the
  N_l^2 entries, layer weights 1e3 / N_l^2 at relu1_1..relu5_1, content MSE at relu4_2
  weight 1, max pooling, L-BFGS history 100 for 500 steps from the photo, 512 px on the
  shorter side. Their style term, written out in NumPy, equals ours with the preset's
  weights on random features (fails for w_l = 1e3/N_l^2 taken over as is: 4x off)."""
  config = jaxstyle.preset("gatys2016_code")
  p = config.flat()
  assert (p["pooling"], p["weights_file"], p["init"]) == ("max", "normalized_max", "content")
  assert p["content_layers"] == ("relu4_2",) and p["content_normalization"] == "mean"
  assert p["style_layers"] == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
  assert (p["optimizer"], p["lbfgs_history"], p["num_steps"], p["lbfgs_linesearch"]) == (
      "lbfgs", 100, 500, None)
  assert (p["image_size"], p["image_side"], p["scales"]) == (512, "shorter", 1)
  assert (p["content_weight"], p["style_weight"], p["tv_weight"]) == (1.0, 1.0, 0.0)
  rng = np.random.default_rng(0)
  widths = (64, 128, 256, 512, 512)
  feats = {l: rng.normal(size=(6, 5, n)).astype(np.float32) for l, n in
           zip(p["style_layers"], widths)}
  targets = {l: rng.normal(size=(4, 7, n)).astype(np.float32) for l, n in
             zip(p["style_layers"], widths)}

  def their_gram(f):  # GramMatrix: F F^T / (h w), per image.
    f = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return f.T @ f / f.shape[0]

  theirs = sum(1e3 / n**2 * np.mean((their_gram(feats[l]) - their_gram(targets[l]))**2)
               for l, n in zip(p["style_layers"], widths))
  ours = losses.style_loss(feats, {l: losses.mean_gram_matrix(t) for l, t in targets.items()},
                           dict(zip(p["style_layers"], p["style_layer_weights"])))
  assert float(ours) == pytest.approx(theirs, rel=1e-5)


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


def test_cli_preset_is_the_config_with_the_given_flags_over_it(tmp_path, weights_dir,
                                                               monkeypatch):
  """--preset=gatys2016_code reaches the library as the preset's config, with the flags
  given explicitly (and only those) over it; its size is on the shorter side."""
  from jaxstyle.gatys import transfer  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(weights_dir / "vgg19.npz"))
  shutil.copy(weights_dir / "vgg19.npz", weights_dir / "vgg19_normalized_max.npz")
  Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "c.png")
  calls = []

  def fake_stylize(content, style, config, **unused):
    calls.append((config, content.shape, [s.shape for s in style]))
    return transfer.StylizeResult(images=np.asarray(content)[None], seeds=[0],
                                  history={"total": np.zeros((1, 1), np.float32)}, steps=0,
                                  stopped=None, config=config, run={})

  monkeypatch.setattr(transfer, "stylize", fake_stylize)
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 'c.png'}", "--preset=gatys2016_code",
                  "--image_size=32", "--num_steps=7", f"--output={tmp_path / 'o.png'}")
  assert done.returncode == 0, done.stderr
  [(config, content_shape, style_shapes)] = calls
  assert config == jaxstyle.preset("gatys2016_code").replace(num_steps=7, image_size=32,
                                                             style_size=32)
  assert content_shape == (32, 48, 3) and style_shapes == [(32, 48, 3)]  # Shorter side 32.
