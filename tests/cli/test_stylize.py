"""`jaxstyle` (jaxstyle/cli/stylize.py) end to end, on a tiny random network and small
images.

Argument checks and refusals run in this process (`tests.commands.run_main`); one real
subprocess covers the entry point, the exit status and the progress lines that only absl's
`app.run` sets up (the other commands' real processes: test_common.py), and one more the
same images from two processes.
"""

import json
import logging
import os
import pathlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import jaxstyle
from jaxstyle import cache as cache_lib
from jaxstyle import images
from jaxstyle.gatys import presets
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.weights import lpips as lpips_weights
from tests.cli.conftest import (MISSING, assert_refused, files_in, kept_files, no_files,
                                save_picture, stylize_args)
from tests.commands import fails_cleanly, run_main, run_subprocess
from tests.conftest import random_image
from tests.weights import synthetic


def run_cli(*args, weights=None):
  """`jaxstyle ARGS [--weights=WEIGHTS]` in this process."""
  return run_main("jaxstyle.stylize", *args,
                  *([f"--weights={weights}"] if weights is not None else []))


@pytest.mark.slow
def test_writes_image_and_metrics(tmp_path, pictures, tiny_weights_file):
  """The `jaxstyle` process: exit 0, the image, snapshots, metrics, the progress lines,
  and the compiled programs in --compilation_cache."""
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  cache = tmp_path / "cache"
  done = run_subprocess(
      "jaxstyle.stylize", f"--content={pictures / 'content.jpg'}",
      f"--style={pictures / 'rgba.png'}", f"--output={out}", "--image_size=32",
      "--num_steps=6", "--log_every=2", "--save_every=3", f"--metrics_json={metrics}",
      f"--compilation_cache={cache}", f"--weights={tiny_weights_file}",
      env={"JAX_PLATFORMS": ""})  # As a user runs it: JAX probes for TPUs and GPUs.
  assert done.returncode == 0, done.stderr
  # The user's terminal: plain progress lines, no absl prefixes ("I1206 08:47:52.86 ...
  # stylize.py:306] "), no JAX probing lines ("Unable to initialize backend 'tpu'").
  assert not re.search(r"^[IWEF]\d{4} ", done.stderr, re.M), done.stderr
  assert "initialize backend" not in done.stderr and "libtpu" not in done.stderr, done.stderr
  assert re.search(r"^step 6/6  loss \S+  content", done.stderr, re.M), done.stderr
  assert Image.open(out).size == (32, 24)
  assert (tmp_path / "out_step00003.png").exists() and (tmp_path / "out_step00006.png").exists()
  assert "compil" in done.stderr and "steps/s" in done.stderr and "ETA" in done.stderr
  m = json.loads(metrics.read_text())
  assert len(m["history"]["total"]) == 7 and len(m["history"]["time"]) == 7
  assert m["device"]["platform"] == "cpu"
  assert m["run"]["content_layers"] == ["conv4_2"] and m["run"]["style_weight"] == 1e-3
  assert m["run"]["style_layers"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
  assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
  assert any(p.name.startswith("jit_step_all") for p in cache.iterdir())


def test_compilation_cache_default_and_off(tmp_path, monkeypatch):
  """--compilation_cache defaults to $JAXSTYLE_CACHE and is off when empty. (That the
  cache named is written is test_writes_image_and_metrics's: the cache is process-wide
  configuration, so this process only records which directory each run would enable.)"""
  enabled = []
  monkeypatch.setattr(cache_lib, "enable_compilation_cache", enabled.append)
  default = tmp_path / "default"
  monkeypatch.setenv("JAXSTYLE_CACHE", str(default))
  fails_cleanly(run_cli("--compilation_cache="), "give --content and --style")
  assert enabled == []
  fails_cleanly(run_cli(), "give --content and --style")
  assert enabled == [str(default)]
  fails_cleanly(run_cli(f"--compilation_cache={tmp_path / 'c'}"), "give --content and --style")
  assert enabled == [str(default), str(tmp_path / "c")]


@pytest.mark.slow
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
@pytest.mark.slow
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
  fails_cleanly(done, message)
  assert done.returncode == 1


@pytest.mark.parametrize("flag", ["--image_size=0", "--num_steps=0", "--num_steps=-5",
                                  "--style_size=-1"])
def test_non_positive_numbers(pictures, tiny_weights_file, flag):
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 flag, weights=tiny_weights_file)
  fails_cleanly(done, f"error: {flag.split('=')[0]} must be ")  # The config's check.


def test_bad_weights_files(tmp_path, pictures, tiny_weights_file):
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(b"\x00" * 100)
  base = [f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
          f"--output={tmp_path / 'o.png'}", "--image_size=32", "--num_steps=1"]
  fails_cleanly(run_cli(*base, weights=corrupt), "corrupt")
  with np.load(tiny_weights_file) as data:
    arrays = dict(data)
  arrays["conv1_1/kernel"] = arrays["conv1_1/kernel"][..., :2]
  shaped = tmp_path / "shaped.npz"
  np.savez(shaped, **arrays)
  fails_cleanly(run_cli(*base, weights=shaped), "mis-shaped: conv1_1/kernel")
  fails_cleanly(run_cli(*base, weights=tmp_path / "absent.npz"), "does not exist")
  assert not (tmp_path / "o.png").exists()


def test_missing_inputs(tiny_weights_file):
  fails_cleanly(run_cli(weights=tiny_weights_file), "give --content and --style")


# --- What it refuses to overwrite, and non-finite float flags --------------------------


@pytest.mark.parametrize("args, output, the_input", [
    (["--output={d}/sub/../c.png"], "{d}/sub/../c.png", "{d}/c.png"),
    (["--output={d}/s.png"], "{d}/s.png", "{d}/s.png"),
    (["--style_masks={d}/m.png", "--output={d}/m.png"], "{d}/m.png", "{d}/m.png"),
    (["--init={d}/i.png", "--output={d}/i.png"], "{d}/i.png", "{d}/i.png"),
    (["--metrics_json={d}/w.npz"], "{d}/w.npz", "{d}/w.npz"),
    (["--num_seeds=2", "--seed=0", "--output={d}/o.png", "--style={d}/o_seed1.png"],
     "{d}/o_seed1.png", "{d}/o_seed1.png"),
    (["--num_seeds=2", "--output={d}/o.png", "--style={d}/o_sheet.png"],
     "{d}/o_sheet.png", "{d}/o_sheet.png"),
    (["--content={d}/batch", "--output_dir={d}/batch"], "{d}/batch/a__s.png",
     "{d}/batch/a__s.png"),
])
def test_stylize_refuses_to_overwrite_an_input(inputs, args, output, the_input):
  d = inputs
  before = files_in(d)
  given = {a.split("=")[0] for a in args}
  defaults = [a for a in (f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                          f"--output={d / 'out.png'}") if a.split("=")[0] not in given]
  done = run_cli(*defaults, *[a.format(d=d) for a in args], "--image_size=32",
                 "--num_steps=1", f"--weights={d / 'w.npz'}")
  assert_refused(done, output.format(d=d), the_input.format(d=d), d, before)


def test_stylize_refuses_snapshots_named_like_an_input(inputs):
  """--save_every's OUTPUT_stepNNNNN files must not replace an input either."""
  d = inputs
  (d / "o_step00001.png").write_bytes((d / "s.png").read_bytes())
  before = files_in(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 'o_step00001.png'}",
                 f"--output={d / 'o.png'}", "--save_every=1", "--image_size=32",
                 "--num_steps=1", f"--weights={d / 'w.npz'}")
  fails_cleanly(done, f"error: --save_every would write snapshots named like the input "
                      f"{d / 'o_step00001.png'}")
  assert files_in(d) == before


@pytest.mark.parametrize("flag", [
    "--content_weight=nan", "--style_weight=inf", "--tv_weight=nan", "--learning_rate=inf",
    "--style_scale=nan", "--style_rotation=-inf"])
def test_stylize_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = files_in(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                 f"--output={d / 'out.png'}", "--image_size=32", "--num_steps=1", flag,
                 f"--weights={d / 'w.npz'}")
  name, value = flag[2:].split("=")
  if name.endswith("_weight"):  # Numbers or sweeps: refused as the flags are parsed.
    fails_cleanly(done, f"flag --{name}={value}: must be non-negative finite numbers")
  else:
    must = "a finite number" if name == "style_rotation" else "a positive finite number"
    fails_cleanly(done, f"error: --{name} must be {must}, got {float(value)}")
  assert files_in(d) == before


@pytest.mark.parametrize("flag", ["--style_blend_weights=1,nan", "--style_layer_weights=inf"])
def test_stylize_rejects_non_finite_numbers_in_lists(inputs, flag):
  d = inputs
  before = files_in(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 's.png'},{d / 'm.png'}",
                 f"--output={d / 'out.png'}", "--image_size=32", "--num_steps=1", flag,
                 f"--weights={d / 'w.npz'}")
  name, value = flag[2:].split("=")
  fails_cleanly(done, f"error: --{name} must be finite numbers, got {value}")
  assert files_in(d) == before


def test_a_weight_sweep_writes_one_image_per_point_and_a_labelled_sheet(
    tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "w.png"
  metrics = tmp_path / "w.json"
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 f"--output={out}", "--image_size=32", "--num_steps=3",
                 "--style_weight=1e-4,1e-2", f"--metrics_json={metrics}",
                 weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  low, high = (np.asarray(Image.open(tmp_path / f"w_sw{v}.png"), np.float32)
               for v in ("1e-04", "1e-02"))
  assert low.shape == high.shape == (24, 32, 3) and np.abs(low - high).mean() > 0.5
  assert Image.open(tmp_path / "w_sheet.png").size[0] > 64
  assert not (tmp_path / "w.png").exists()
  m = json.loads(metrics.read_text())
  assert m["run"]["style_weight"] == [1e-4, 1e-2] and m["run"]["init"] == "content"
  assert m["points"] == [{"style_weight": 1e-4}, {"style_weight": 1e-2}]
  total = np.array(m["history"]["total"])
  assert total.shape == (4, 2)
  # Both start from the photo (init auto, one seed): no content loss, beta x style.
  style = np.array(m["history"]["style"])
  np.testing.assert_allclose(total[0], [1e-4 * style[0, 0], 1e-2 * style[0, 1]], rtol=1e-5)


@pytest.mark.parametrize("flag, message", [
    ("--style_weight=1e-3,-1", "non-negative finite"),
    ("--content_weight=1,x", "comma-separated numbers"),
    ("--tv_weight=nan", "non-negative finite"),
    ("--style_weight=1e-3,0.001",
     "error: --style_weight: the sweep (0.001, 0.001) repeats a value"),
])
def test_bad_weight_lists(pictures, tiny_weights_file, flag, message):
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 flag, weights=tiny_weights_file)
  fails_cleanly(done, message)


# --- A NaN loss, the README's first command (--demo), the same images bit for bit ------


@pytest.fixture(scope="module")
def huge_weights_file(tmp_path_factory, tiny_weights):
  """Finite weights (so the file loads) whose features overflow float32 at any image."""
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  params = {layer: dict(kinds) for layer, kinds in tiny_weights.params.items()}
  for layer in ("conv1_1", "conv2_1", "conv3_1"):
    params[layer]["kernel"] = params[layer]["kernel"] * np.float32(1e20)
  path = tmp_path_factory.mktemp("huge") / "huge.npz"
  weights_lib.save(weights_lib.NetworkWeights(params, "caffe", {"source": "huge"}), path)
  return path


@pytest.mark.parametrize("case", ["at_step_1", "at_the_start"])
def test_nan_loss_stops_early_and_keeps_the_last_finite_image(tmp_path, pictures,
                                                              tiny_weights_file,
                                                              huge_weights_file, case):
  """README: "If the loss becomes NaN or infinite the run stops, keeps the last finite
  image and says so": one `error:` line ("stopped early"), exit 1, and the image written
  is the start (the content photo), the last one with a finite loss. At step 1: SGD with
  a step of 1e30 overflows the features; at the start: weights of 1e20."""
  weights = tiny_weights_file if case == "at_step_1" else huge_weights_file
  out, metrics = tmp_path / "out.png", tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", *stylize_args(pictures, weights, out, "--optimizer=sgd",
                                                    "--learning_rate=1e30", "--num_steps=4",
                                                    f"--metrics_json={metrics}"))
  reason = ("the loss became" if case == "at_step_1"
            else "the loss is not finite at the starting image")
  fails_cleanly(done, f"error: the run stopped early: {reason}")
  assert done.returncode == 1 and f"(saved {out})" in done.stderr.strip().splitlines()[-1]
  np.testing.assert_array_equal(np.asarray(Image.open(out)),
                                np.asarray(Image.open(pictures / "content.png")))
  m = json.loads(metrics.read_text())
  assert m["steps"] == 0 and reason in m["stopped"]
  if case == "at_step_1":
    assert "at step 1" in m["stopped"] and np.isfinite(m["history"]["total"][0][0])


@pytest.mark.slow
def test_readme_first_command_demo(tmp_path, tiny_weights_file):
  """`jaxstyle --demo --image_size=256 --num_steps=200 --output=demo.png` at 32 px and 8
  steps: scikit-image's Chelsea in the style of its IHC slide (on the tiny network: the
  default file's first-run fetch is test_integration's)."""
  out, metrics = tmp_path / "demo.png", tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", "--demo", "--image_size=32", "--num_steps=8",
                  f"--output={out}", f"--metrics_json={metrics}", f"--weights={tiny_weights_file}")
  assert done.returncode == 0, done.stderr
  assert Image.open(out).size == (32, 21)  # Chelsea is 451x300.
  m = json.loads(metrics.read_text())
  assert m["inputs"]["content"].endswith("chelsea.png")
  assert m["inputs"]["style"][0].endswith("ihc.png")
  total = np.asarray(m["history"]["total"])[:, 0]
  assert total[-1] < 0.7 * total[0]


@pytest.mark.slow
def test_same_settings_same_images_bit_for_bit(tmp_path, pictures, tiny_weights_file):
  """Two processes, the first compiling into an empty persistent cache, the second
  reading its programs back from it, and a third run in this process: the same PNG bytes
  and the same losses at every step, to the last bit."""
  cache = tmp_path / "cache"
  flags = ("--num_steps=6", "--init=noise", "--seed=5", "--log_every=0")
  runs = []
  for name in ("cold", "warm"):
    out, metrics = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    done = run_subprocess("jaxstyle.stylize",
                          *stylize_args(pictures, tiny_weights_file, out, *flags,
                                        f"--metrics_json={metrics}",
                                        f"--compilation_cache={cache}"),
                          env={"JAX_DEBUG_LOG_MODULES": "jax._src.compiler"})
    assert done.returncode == 0, done.stderr
    runs.append((done.stderr, out.read_bytes(), json.loads(metrics.read_text())["history"]))
  assert "Persistent compilation cache hit" not in runs[0][0]
  assert "Persistent compilation cache hit" in runs[1][0], runs[1][0][-3000:]
  done = run_main("jaxstyle.stylize", *stylize_args(pictures, tiny_weights_file,
                                                    tmp_path / "here.png", *flags,
                                                    f"--metrics_json={tmp_path / 'here.json'}"))
  assert done.returncode == 0, done.stderr
  runs.append((done.stderr, (tmp_path / "here.png").read_bytes(),
               json.loads((tmp_path / "here.json").read_text())["history"]))
  _, png, history = runs[0]
  assert len(history["total"]) == 7 and history["total"][-1][0] < history["total"][0][0]
  for _, other_png, other_history in runs[1:]:
    assert other_png == png
    for key in ("total", "content", "style", "tv"):
      assert other_history[key] == history[key], key


# --- A NaN in the weights, a full disk, a learning rate <= 0 (issue 26) ----------------


def test_command_refuses_a_nan_weights_file_before_writing(tmp_path, tiny_weights):
  """README: a NaN or infinite weight gets one `error:` line and exit 1, before anything
  is written."""
  arrays = synthetic.arrays(tiny_weights)
  arrays["conv4_2/kernel"] = np.full_like(arrays["conv4_2/kernel"], np.nan)
  bad = tmp_path / "nan.npz"
  np.savez(bad, meta=np.array(json.dumps({"preprocessing": "caffe"})), **arrays)
  images.save_image(random_image(24, 32), tmp_path / "c.png")
  images.save_image(random_image(32, 32, 1), tmp_path / "s.png")
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 's.png'}", f"--output={tmp_path / 'out.png'}",
                  "--image_size=32", "--num_steps=2", f"--weights={bad}",
                  f"--metrics_json={tmp_path / 'm.json'}")
  fails_cleanly(done, "NaN or inf values in: conv4_2/kernel")
  assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error:")
  assert not (tmp_path / "out.png").exists() and not (tmp_path / "m.json").exists()


def test_stylize_keeps_images_and_metrics_when_the_disk_is_full(tmp_path, d, full_disk):
  """A real run (the settings of test_seeds_write_images_and_a_contact_sheet: its compiled
  program is reused); every output the disk refused is kept and named in the one line."""
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.stylize", f"--content={d / 's.png'}",
                  f"--style={d / 'c.png'},{d / 's.png'}", f"--output={out / 'o.png'}",
                  f"--metrics_json={out / 'm.json'}", "--image_size=32", "--num_steps=3",
                  "--num_seeds=3", "--seed=10", "--optimizer=adam", f"--weights={d / 'w.npz'}")
  kept = kept_files(done, full_disk.systemp)
  assert [what for what, _ in kept] == ["the image"] * 4 + ["the metrics"]
  for name, (_, path) in zip(["o_seed10", "o_seed11", "o_seed12", "o_sheet", "m"], kept):
    assert f"cannot write {out / name}" in done.stderr
    assert path.name.startswith(f"jaxstyle-{name}-")
  seeds = [np.asarray(Image.open(p)) for _, p in kept[:3]]
  assert all(s.shape == (32, 32, 3) for s in seeds)
  assert np.abs(seeds[0].astype(int) - seeds[1]).mean() > 1  # Three images, not one thrice.
  metrics = json.loads(kept[4][1].read_text())
  assert metrics["seeds"] == [10, 11, 12] and len(metrics["history"]["total"]) == 4
  assert no_files(out)


@pytest.mark.parametrize("rate", ["-1", "0"])
def test_stylize_command_refuses_a_learning_rate_that_is_not_positive(tmp_path, d, rate):
  done = run_main("jaxstyle.stylize", f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                  f"--output={tmp_path / 'o.png'}", "--optimizer=adam",
                  f"--learning_rate={rate}", "--image_size=32", "--num_steps=2",
                  f"--weights={MISSING}.npz")
  fails_cleanly(done, f"error: --learning_rate must be a positive finite number, got {float(rate)}")
  assert done.returncode == 1 and not (tmp_path / "o.png").exists()


# --- Style controls: the flags and batches ---------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  d = tmp_path_factory.mktemp("batch")
  for name, seed in (("a.png", 0), ("b.jpg", 1)):
    Image.fromarray((random_image(32, 32, seed) * 255).astype(np.uint8)).save(d / name)
  (d / "broken.png").write_bytes(b"\x89PNG not really")
  (d / "readme.txt").write_text("not an image either, and not listed")
  s = tmp_path_factory.mktemp("styles")
  for name, seed in (("s1.png", 2), ("s2.png", 3)):
    Image.fromarray((random_image(32, 32, seed) * 255).astype(np.uint8)).save(s / name)
  mask = np.zeros((32, 32), np.uint8)
  mask[:, :16] = 255
  Image.fromarray(mask).save(s / "left.png")
  Image.fromarray(255 - mask).save(s / "right.png")
  return d, s


def test_batch_skips_a_bad_file_and_summarizes(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  done = run_cli(f"--content={contents}", f"--style={styles / 's1.png'},{styles / 's2.png'}",
                 "--each_style", f"--output_dir={tmp_path}", "--image_size=32",
                 "--num_steps=2", "--log_every=0", weights=tiny_weights_file)
  assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
  written = sorted(p.name for p in tmp_path.glob("*.png"))
  assert written == ["a__s1.png", "a__s2.png", "b__s1.png", "b__s2.png"]
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert len(summary["written"]) == 4 and len(summary["failed"]) == 2
  assert all("broken.png" in f["content"] for f in summary["failed"])
  assert "batch: 4 of 6 written" in done.stderr
  assert "2 of 6 batch item(s) failed" in done.stderr.strip().splitlines()[-1]
  assert json.loads((tmp_path / "a__s2.json").read_text())["steps"] == 2


@pytest.mark.slow
def test_glob_blends_styles_into_one_output_per_content(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  done = run_cli(f"--content={contents}/[ab].*", f"--style={styles / 's1.png'},"
                 f"{styles / 's2.png'}", f"--output_dir={tmp_path}", "--output=x.jpg",
                 "--image_size=32", "--num_steps=2", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["a__s1+s2.jpg", "b__s1+s2.jpg"]


@pytest.mark.slow
def test_control_flags(tmp_path, folder, tiny_weights_file):
  contents, styles = folder
  out = tmp_path / "o.png"
  metrics = tmp_path / "m.json"
  done = run_cli(f"--content={contents / 'a.png'}",
                 f"--style={styles / 's1.png'},{styles / 's2.png'}",
                 f"--style_masks={styles / 'left.png'},{styles / 'right.png'}",
                 "--style_scale=0.8", "--style_rotation=30", "--preserve_color=histogram",
                 "--scales=2", "--scale_steps=3,2", "--tv_weight=1", f"--output={out}",
                 f"--metrics_json={metrics}", "--image_size=32", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  assert Image.open(out).size == (32, 32)
  m = json.loads(metrics.read_text())
  config = StylizeConfig.from_dict(m["config"])
  assert m["run"]["guided"] and config.images.style_rotation == 30
  assert config.images.style_scale == 0.8 and config.images.preserve_color == "histogram"
  assert len(m["run"]["scales"]) == 2 and config.schedule.scale_steps == (3, 2)
  done = run_cli(f"--content={contents / 'a.png'}", f"--style={styles / 's1.png'}",
                 f"--style_masks={styles / 'left.png'},{styles / 'right.png'}",
                 f"--output={out}", weights=tiny_weights_file)
  assert done.returncode == 1 and "one mask per --style" in done.stderr
  done = run_cli(f"--content={contents}", f"--style={styles / 's1.png'}",
                 f"--output={out}", weights=tiny_weights_file)
  assert done.returncode == 1 and "give --output_dir" in done.stderr


# --- Other style losses and networks, --rank_by ----------------------------------------

TINY = {"vgg16": (4, 6, 8, 8, 8), "alexnet": (6, 8, 8, 8, 8)}


@pytest.fixture(scope="module")
def tiny_networks():
  return {name: jaxstyle.weights.random_weights(network=name, widths=widths)
          for name, widths in TINY.items()}


# Each network's layers as the README and `features` name them: content, style.
OWN_LAYERS = {"vgg16": ("conv4_2", ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")),
              "alexnet": ("conv4", ("conv1", "conv2", "conv3", "conv4", "conv5"))}


@pytest.mark.slow
def test_cli_style_loss_and_network(tmp_path, tiny_networks):
  content = save_picture(random_image(64, 64, 0), tmp_path / "c.png")
  style = save_picture(random_image(64, 64, 1), tmp_path / "s.png")
  path = tmp_path / "alexnet.npz"
  jaxstyle.weights.save(tiny_networks["alexnet"], path)
  out, metrics = tmp_path / "o.png", tmp_path / "m.json"
  common = [f"--content={content}", f"--style={style}", f"--output={out}", f"--weights={path}"]
  done = run_main("jaxstyle.stylize", *common, "--image_size=64", "--num_steps=3",
                  "--network=alexnet", "--style_loss=mean_cov", f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  run = json.loads(metrics.read_text())["run"]
  assert run["network"] == "alexnet" and run["style_loss"] == "mean_cov"
  assert run["style_layers"] == list(OWN_LAYERS["alexnet"][1])
  fails_cleanly(run_main("jaxstyle.stylize", *common, "--network=alexnet",
                         "--style_layers=conv1_1"), "--style_layers: unknown AlexNet layer")
  fails_cleanly(run_main("jaxstyle.stylize", *common, "--network=vgg16"),
                "holds alexnet, not vgg16")


@pytest.mark.slow
def test_cli_rank_by_orders_the_sheet_and_records_each_seed(tmp_path, tiny_weights,
                                                             monkeypatch, caplog):
  """--rank_by=lpips on a 3-seed sweep, with tiny judges beside a tiny VGG-19
  ($JAXSTYLE_WEIGHTS): the metrics JSON holds every judge per seed and the order, which
  is the order of content/lpips_alex."""
  from jaxstyle.metrics import lpips as lpips_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  d = tmp_path / "weights"
  d.mkdir()
  weights_lib.save(tiny_weights, d / "vgg19.npz")
  widths = {"vgg": (4, 6, 8, 8, 8), "alex": (6, 8, 8, 8, 8)}
  for lp, network in lpips_weights.LPIPS_TRUNKS.items():
    jaxstyle.weights.save(jaxstyle.weights.random_weights(network=network, widths=widths[lp]),
                       lpips_weights.network_path(network, d))
  lpips_weights.save_heads({lp: lpips_weights.random_heads(lp, widths=w)
                            for lp, w in widths.items()}, {"source": "random"},
                           lpips_weights.heads_path(d))
  content = save_picture(random_image(32, 32, 0), tmp_path / "c.png")
  style = save_picture(random_image(32, 32, 1), tmp_path / "s.png")
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(d / "vgg19.npz"))
  caplog.set_level(logging.INFO)
  # The real LPIPS weights are read once per process: forget them before and after.
  lpips_lib._default_params.cache_clear()  # pylint: disable=protected-access
  metrics = tmp_path / "m.json"
  command = [f"--content={content}", f"--style={style}", f"--output={tmp_path / 'o.png'}",
             "--image_size=32", "--num_steps=3", "--num_seeds=3"]
  try:
    done = run_main("jaxstyle.stylize", *command, "--rank_by=lpips", f"--metrics_json={metrics}")
  finally:
    lpips_lib._default_params.cache_clear()  # pylint: disable=protected-access
  assert done.returncode == 0, done.stderr
  ranking = json.loads(metrics.read_text())["ranking"]
  assert ranking["by"] == "lpips" and sorted(ranking["order"]) == [0, 1, 2]
  lpips = {int(s): m["content/lpips_alex"] for s, m in ranking["metrics"].items()}
  assert ranking["order"] == sorted(lpips, key=lpips.get)
  assert all(len(m) == 8 for m in ranking["metrics"].values())
  assert (tmp_path / "o_sheet.png").exists()
  assert "seeds by lpips" in caplog.text
  fails_cleanly(run_main("jaxstyle.stylize", *command[:-1], "--rank_by=style"),
                "give --num_seeds > 1")


# --- Presets (jaxstyle/gatys/presets.py) -----------------------------------------------


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


@pytest.mark.parametrize("preset", ["crowsonkb", "neural_style"])
@pytest.mark.slow
def test_recipe_presets_run_from_the_cli(tmp_path, tiny_weights_file, monkeypatch, preset):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tiny_weights_file))
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (48, 48, 3), np.uint8)).save(tmp_path / "c.png")
  metrics = tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", f"--content={tmp_path / 'c.png'}",
                  f"--style={tmp_path / 'c.png'}", f"--preset={preset}", "--image_size=48",
                  "--num_steps=2", "--finer_steps=1", "--coarsest_size=24",
                  f"--output={tmp_path / 'o.png'}", f"--metrics_json={metrics}")
  assert done.returncode == 0, done.stderr
  m = json.loads(metrics.read_text())
  config = StylizeConfig.from_dict(m["config"]).flat()
  recipe = presets.preset(preset).flat()
  assert config["optimizer"] == recipe["optimizer"]
  assert config["style_loss"] == recipe["style_loss"]
  assert config["content_normalization"] == recipe["content_normalization"]
  assert config["tv_normalization"] == recipe["tv_normalization"]
  if preset == "crowsonkb":
    assert config["carry_state"] and [l["width"] for l in m["run"]["scales"]] == [24, 34, 48]
  else:
    assert config["lbfgs_history"] == 100 and len(m["run"]["scales"]) == 1


# --- Started from the arbitrary-style network's output (--init=arbitrary) --------------


@pytest.mark.slow
def test_init_arbitrary_command(tmp_path, arbitrary_pictures, arbitrary_weights_file,
                                tiny_weights_file, monkeypatch):
  """`jaxstyle --init=arbitrary` finds the arbitrary weights beside the VGG-19's."""
  monkeypatch.setenv("JAXSTYLE_WEIGHTS",
                     str(pathlib.Path(arbitrary_weights_file).with_name("vgg19.npz")))
  done = run_main("jaxstyle.stylize", f"--content={arbitrary_pictures / 'photos' / 'p0.png'}",
                  f"--style={arbitrary_pictures / 'style.png'}", "--init=arbitrary",
                  "--num_steps=2", "--image_size=32", f"--weights={tiny_weights_file}",
                  f"--output={tmp_path / 'out.png'}", f"--metrics_json={tmp_path / 'm.json'}")
  assert done.returncode == 0, done.stderr
  assert Image.open(tmp_path / "out.png").size == (32, 23)
  assert json.loads((tmp_path / "m.json").read_text())["run"]["init"] == "arbitrary"
