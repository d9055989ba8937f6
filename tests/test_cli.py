"""The command line end to end, on a tiny random network and small images."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import random_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, weights=None):
  command = [sys.executable, "-m", "jaxstyle.stylize", *args]
  if weights is not None:
    command.append(f"--weights={weights}")
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
  return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=600, check=False)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("pictures")
  Image.fromarray((random_image(40, 50, 0) * 255).astype(np.uint8)).save(d / "content.jpg")
  grey = (random_image(30, 30, 1)[..., 0] * 255).astype(np.uint8)
  Image.fromarray(grey, "L").save(d / "grey.png")
  rgba = (random_image(30, 30, 2) * 255).astype(np.uint8)
  Image.fromarray(np.dstack([rgba, np.full((30, 30), 200, np.uint8)]), "RGBA").save(d / "rgba.png")
  (d / "notes.jpg").write_text("not an image")
  data = (d / "content.jpg").read_bytes()
  (d / "cut.jpg").write_bytes(data[: len(data) // 2])
  return d


def _fails_cleanly(done, message):
  assert done.returncode != 0
  assert "Traceback" not in done.stderr, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert message in last, done.stderr


def test_writes_image_and_metrics(tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 f"--output={out}", "--image_size=40", "--num_steps=6", "--log_every=2",
                 "--save_every=3", f"--metrics_json={metrics}", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert Image.open(out).size == (40, 32)
  assert (tmp_path / "out_step00003.png").exists() and (tmp_path / "out_step00006.png").exists()
  assert "compil" in done.stderr and "steps/s" in done.stderr and "ETA" in done.stderr
  m = json.loads(metrics.read_text())
  assert len(m["history"]["total"]) == 7 and len(m["history"]["time"]) == 7
  assert m["device"]["platform"] == "cpu"
  assert m["config"]["content_layers"] == ["conv4_2"] and m["config"]["style_weight"] == 100.0
  assert m["config"]["style_layers"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
  assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_seeds_write_images_and_a_contact_sheet(tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "s.png"
  done = run_cli(f"--content={pictures / 'grey.png'}",
                 f"--style={pictures / 'content.jpg'},{pictures / 'rgba.png'}",
                 f"--output={out}", "--image_size=32", "--num_steps=3", "--num_seeds=3",
                 "--seed=10", "--optimizer=adam", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  seeds = [np.asarray(Image.open(tmp_path / f"s_seed{s}.png")) for s in (10, 11, 12)]
  assert all(im.shape == (32, 32, 3) for im in seeds)
  assert np.abs(seeds[0].astype(int) - seeds[1]).mean() > 1
  assert (tmp_path / "s_sheet.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--content=/no/such/file.jpg"], "no such file"),
    (["--content={d}/notes.jpg"], "not an image"),
    (["--content={d}/cut.jpg"], "damaged or truncated"),
    (["--style_layers=conv1_1,conv9_1"], "unknown VGG-19 layer(s) conv9_1; valid layers are"),
    (["--content_layers=relu4_5"], "unknown VGG-19 layer(s) relu4_5"),
    (["--image_size=20000"], "smaller --image_size"),
    (["--style_weight=1e38"], "not finite"),
    (["--output={d}/out.xyz"], "must end in one of .png"),
    (["--init={d}/missing.png"], "no such file"),
])
def test_bad_input_is_one_line(tmp_path, pictures, tiny_weights_file, args, message):
  args = [a.format(d=pictures) for a in args]
  defaults = {"--content": f"--content={pictures / 'content.jpg'}",
              "--style": f"--style={pictures / 'rgba.png'}",
              "--output": f"--output={tmp_path / 'o.png'}"}
  for a in args:
    defaults.pop(a.split("=")[0], None)
  done = run_cli(*defaults.values(), *args, "--image_size=32" if "--image_size" not in
                 " ".join(args) else "--num_steps=2", "--num_steps=2",
                 weights=tiny_weights_file)
  _fails_cleanly(done, message)


@pytest.mark.parametrize("flag", ["--image_size=0", "--num_steps=0", "--num_steps=-5",
                                  "--style_size=-1"])
def test_non_positive_numbers(pictures, tiny_weights_file, flag):
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 flag, weights=tiny_weights_file)
  assert done.returncode != 0 and "Traceback" not in done.stderr
  assert "is not a positive integer" in done.stderr and flag.split("=")[0] in done.stderr


def test_bad_weights_files(tmp_path, pictures, tiny_weights_file):
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(b"\x00" * 100)
  base = [f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
          "--image_size=32", "--num_steps=1"]
  _fails_cleanly(run_cli(*base, weights=corrupt), "corrupt")
  with np.load(tiny_weights_file) as data:
    arrays = dict(data)
  arrays["conv1_1/kernel"] = arrays["conv1_1/kernel"][..., :2]
  shaped = tmp_path / "shaped.npz"
  np.savez(shaped, **arrays)
  _fails_cleanly(run_cli(*base, weights=shaped), "mis-shaped: conv1_1/kernel")
  _fails_cleanly(run_cli(*base, weights=tmp_path / "absent.npz"), "does not exist")


def test_missing_inputs(tiny_weights_file):
  _fails_cleanly(run_cli(weights=tiny_weights_file), "give --content and --style")


def test_compilation_cache_is_written_and_can_be_turned_off(tmp_path, pictures,
                                                            tiny_weights_file, monkeypatch):
  args = [f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'grey.png'}",
          "--image_size=40", "--num_steps=2", "--log_every=0"]
  cache = tmp_path / "cache"
  done = run_cli(*args, f"--output={tmp_path / 'a.png'}", f"--compilation_cache={cache}",
                 weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert any(p.name.startswith("jit_step_all") for p in cache.iterdir())
  default = tmp_path / "default"  # The default directory comes from $JAXSTYLE_CACHE.
  monkeypatch.setenv("JAXSTYLE_CACHE", str(default))
  done = run_cli(*args, f"--output={tmp_path / 'b.png'}", "--compilation_cache=",
                 weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert not default.exists()
  done = run_cli(*args, f"--output={tmp_path / 'c.png'}", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert any(p.name.startswith("jit_step_all") for p in default.iterdir())
