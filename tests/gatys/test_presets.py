"""jaxstyle.gatys.presets: the paper's settings and the peers' recipes
(presets.PRESETS["crowsonkb"], ["neural_style"]) as configs."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle import losses
from jaxstyle.gatys import presets
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.presets import PRESETS


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


def test_recipes_are_the_peers_settings():
  crowson = presets.preset("crowsonkb").flat()
  neural = presets.preset("neural_style").flat()
  assert crowson["optimizer"] == "adam" and crowson["adam_betas"] == (0.9, 0.99)
  assert crowson["clamp"] and crowson["average_decay"] == 0.99 and crowson["carry_state"]
  assert crowson["coarsest_size"] == 128 and crowson["scale_factor"] == pytest.approx(2**0.5)
  assert (crowson["num_steps"], crowson["finer_steps"]) == (1000, 500)
  assert crowson["style_loss"] == "mean_cov" and crowson["init"] == "content"
  # 256:64:16:4:1 normalized, then per channel (its W2 is a channel mean).
  ratios = np.array(crowson["style_layer_weights"]) * np.array([64, 128, 256, 512, 512])
  np.testing.assert_allclose(ratios / ratios[-1], [256, 64, 16, 4, 1])
  assert ratios.sum() == pytest.approx(1.0)
  k = presets.TORCHVISION_FEATURE_SCALE
  assert crowson["content_weight"] * k == pytest.approx(0.015)
  assert crowson["style_weight"] * k**2 == pytest.approx(1.0) and crowson["tv_weight"] == 2.0
  assert neural["lbfgs_history"] == 100 and neural["num_steps"] == 1000
  assert (neural["content_weight"], neural["style_weight"]) == (5.0, 100.0)
  np.testing.assert_allclose(np.array(neural["style_layer_weights"]) *
                             np.array([64, 128, 256, 512, 512])**2, 4.0)
  assert neural["tv_weight"] == pytest.approx(1e-3 * 255**2 / 2)
  assert neural["tv_normalization"] == "sum"
  assert presets.RECIPE_NAMES == ("crowsonkb", "neural_style")


def test_neural_style_gram_weights_equal_its_normalization():
  """4 / C^2 times our E_l is neural-style's mean squared difference of G / (C H W)."""
  rng = np.random.default_rng(6)
  f = rng.normal(size=(5, 6, 8)).astype(np.float32)
  s = rng.normal(size=(7, 4, 8)).astype(np.float32)
  ours = losses.style_distance("gram", jnp.asarray(f), losses.style_statistics(
      "gram", jnp.asarray(s)))
  c = f.shape[-1]
  g = f.reshape(-1, c).T @ f.reshape(-1, c) / f.size
  a = s.reshape(-1, c).T @ s.reshape(-1, c) / s.size
  np.testing.assert_allclose(4.0 / c**2 * float(ours), np.mean((g - a)**2), rtol=1e-4)
