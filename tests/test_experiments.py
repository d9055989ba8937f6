"""A small-size smoke run of every experiment script, on the tiny random network.

The experiments run in this process (tests/commands.run_script: one JAX import, and the
programs that two experiments share compile once); `experiments.all --dry_run` runs as a
real process, for its entry point."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import jaxstyle

from tests.commands import run_script
from tests.conftest import random_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = ["reconstructions", "artworks", "ratio_grid", "content_layer", "initialization",
               "photorealistic", "iterations", "optimizers", "pooling", "style_layers",
               "style_interpolation", "style_scale", "style_rotation", "color_preservation",
               "tv_weight", "spatial_control", "high_resolution"]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("pictures")
  for i, name in enumerate(("content", "style", "style2")):
    Image.fromarray((random_image(24, 32, i) * 255).astype(np.uint8)).save(d / f"{name}.png")
  return d


def _run(module, *args):
  return run_script(f"experiments.{module}", *args)


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.slow
def test_experiment_smoke(tmp_path, pictures, tiny_weights_file, name):
  size = 64 if name in ("style_scale", "style_rotation") else 32
  args = [f"--content={pictures / 'content.png'}", f"--weights={tiny_weights_file}",
          f"--output_dir={tmp_path}", f"--image_size={size}", "--num_steps=3"]
  if name == "artworks":
    args.append(f"--styles={pictures / 'style.png'},{pictures / 'style2.png'}")
  else:
    args.append(f"--style={pictures / 'style.png'}")
  if name == "ratio_grid":
    args.append("--ratios=1e-3,1e-2")
  if name in ("style_interpolation", "spatial_control"):
    args.append(f"--style2={pictures / 'style2.png'}")
  if name == "style_scale":
    args.append("--scales=0.5,1")
  if name == "high_resolution":
    args += ["--sizes=48,64", "--scales=2", "--scale_steps=3,1", "--crop=16"]
  done = _run(name, *args)
  assert done.returncode == 0, done.stderr[-3000:]
  figure = Image.open(tmp_path / f"{name}.jpg")
  assert figure.size[0] > 32 and figure.size[1] > 24
  record = json.loads((tmp_path / f"{name}.json").read_text())
  assert record["experiment"] == name and record["runs"]
  for run in record["runs"]:
    if name == "high_resolution":
      assert run["peak_rss_gib"] > 0 and [s["steps"] for s in run["scales"]] == [3, 1]
      continue
    assert len(run["history"]["total"]) == run["steps"] + 1
  if name == "optimizers":
    assert (tmp_path / "optimizers_steps.png").exists()
    assert (tmp_path / "optimizers_time.png").exists()
  if name == "ratio_grid":  # A row is one alpha sweep: 5 runs of 2 points, 10 panels.
    assert [len(r["settings"]["content_weight"]) for r in record["runs"]] == [2] * 5
    assert len(record["runs"][0]["history"]["total"][0]) == 2
  expected_runs = {"reconstructions": 10, "ratio_grid": 5, "style_layers": 5,
                   "optimizers": 5, "initialization": 3, "artworks": 2,
                   "style_interpolation": 5, "style_scale": 2, "style_rotation": 4,
                   "color_preservation": 3, "tv_weight": 4, "spatial_control": 3,
                   "high_resolution": 2}
  if name in expected_runs:
    assert len(record["runs"]) == expected_runs[name]
  if name == "artworks":  # The paper's written formulas: its settings, not a preset's.
    assert "config" not in record["runs"][0]
    assert record["runs"][0]["settings"]["content_normalization"] == "sum"
  if name == "reconstructions":  # The CVPR paper's Figure 1 layers.
    assert [r["settings"]["content_layers"] for r in record["runs"][:5]] == [
        [f"conv{i}_2"] for i in range(1, 6)]
    assert [r["settings"]["style_layers"][-1] for r in record["runs"][5:10]] == [
        f"conv{i}_1" for i in range(1, 6)]


@pytest.mark.slow
def test_large_output_runs_the_command_and_shows_a_crop_at_full_resolution(
    tmp_path, pictures, tiny_weights_file):
  """experiments.large_output: the jaxstyle command in a child process (its levels,
  wall time and peak RSS recorded), then the whole picture beside a 1:1 crop; and the
  same figure from the finished run's files."""
  args = [f"--content={pictures / 'content.png'}", f"--style={pictures / 'style.png'}",
          f"--weights={tiny_weights_file}", "--image_size=64", "--scales=2",
          "--scale_steps=2,1", "--crop=16", "--crop_centre=60,2"]
  done = _run("large_output", f"--output_dir={tmp_path}", *args)
  assert done.returncode == 0, done.stderr[-3000:]
  record = json.loads((tmp_path / "large_output.json").read_text())
  assert [(l["width"], l["steps"]) for l in record["levels"]] == [(32, 2), (64, 1)]
  assert record["peak_rss_gib"] > 0 and record["crop"] == [0, 48, 16]  # Kept inside.
  assert record["command"][0] == "jaxstyle" and "--scale_steps=2,1" in record["command"]
  again = tmp_path / "again"
  done = _run("large_output", f"--output_dir={again}", "--crop=16",
              f"--image={tmp_path / 'large_output_full.png'}",
              f"--run_json={tmp_path / 'large_output_run.json'}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert Image.open(again / "large_output.jpg").size == Image.open(
      tmp_path / "large_output.jpg").size


@pytest.mark.slow
def test_video_flicker_shows_each_method_with_its_error_maps(tmp_path, pictures,
                                                             tiny_weights_file):
  """experiments.video_flicker: per method a row of frames and a row of per-pixel warping
  errors, for the shown frames that have a next one; the labels' errors are the pairs'."""
  clip = tmp_path / "clip"
  clip.mkdir()
  scene = random_image(24, 40, 5)
  for t in range(4):  # A pan of 2 px per frame: known, reliable motion.
    Image.fromarray((scene[:, 2 * t:2 * t + 32] * 255).astype(np.uint8)).save(
        clip / f"frame_{t:05d}.png")
  done = _run("video_flicker", f"--clip={clip}", f"--style={pictures / 'style.png'}",
              f"--weights={tiny_weights_file}", f"--output_dir={tmp_path}", "--num_steps=2",
              "--show=2")
  assert done.returncode == 0, done.stderr[-3000:]
  record = json.loads((tmp_path / "video_flicker.json").read_text())
  assert record["shown"] == [1, 2] and record["frames"] == 4
  for mode in ("warm", "temporal"):
    assert len(record["results"][mode]["per_pair"]) == 3
    assert record["results"][mode]["warping_error"] == pytest.approx(
        np.mean(record["results"][mode]["per_pair"]))
  # Rows: the input, then per method its frames and its error maps (contact_sheet: 4 px
  # pad, 14 px label); two columns.
  assert Image.open(tmp_path / "video_flicker.jpg").size == (2 * (32 + 4) + 4,
                                                           5 * (24 + 4 + 14) + 4)


@pytest.mark.slow
def test_figure_3_with_a_preset_runs_the_whole_config(tmp_path, pictures, tiny_weights_file):
  """--preset=gatys2016_code: the preset's config as recorded (its start, its loss, its
  side: --image_size on the shorter side), with the flags given explicitly over it."""
  done = _run("artworks", f"--content={pictures / 'content.png'}",
              f"--styles={pictures / 'style.png'}", f"--weights={tiny_weights_file}",
              f"--output_dir={tmp_path}", "--image_size=24", "--num_steps=2",
              "--preset=gatys2016_code")
  assert done.returncode == 0, done.stderr[-3000:]
  [run] = json.loads((tmp_path / "artworks.json").read_text())["runs"]
  config = jaxstyle.StylizeConfig.from_dict(run["config"])
  assert config == jaxstyle.preset("gatys2016_code").replace(num_steps=2, image_size=24,
                                                          log_every=config.progress.log_every)
  assert run["steps"] == 2 and run["history"]["content"][0][0] == 0.0  # From the photo.
  assert Image.open(tmp_path / "artworks.jpg").size[1] > 24


@pytest.mark.slow
def test_coarse_to_fine_figure_shows_one_panel_at_one_scale(tmp_path, pictures,
                                                            tiny_weights_file):
  """--scales=2: every panel coarse-to-fine, and the last one also at one scale with the
  same steps in all, so a reader can compare the two schedules (experiments.common's
  `one_scale_too`, which reconstructions calls as photorealistic does)."""
  done = _run("photorealistic", f"--content={pictures / 'content.png'}",
              f"--style={pictures / 'style.png'}", f"--weights={tiny_weights_file}",
              f"--output_dir={tmp_path}", "--image_size=64", "--num_steps=3", "--scales=2",
              "--finer_steps=2", "--ratios=1e-2,1e-4")
  assert done.returncode == 0, done.stderr[-3000:]
  _check_one_scale_panel(json.loads((tmp_path / "photorealistic.json").read_text()), runs=3)


def _check_one_scale_panel(record, runs):
  assert record["schedule"] == {"scales": 2, "num_steps": 3, "finer_steps": 2}
  record_runs = record["runs"]
  assert len(record_runs) == runs
  assert [r["settings"]["scales"] for r in record_runs] == [2] * (runs - 1) + [1]
  assert [r["steps"] for r in record_runs] == [5] * runs
  last, compared = record_runs[-1], record_runs[-2]
  assert last["settings"]["num_steps"] == 5
  for key in ("style_weight", "content_weight", "style_layers", "content_layers"):
    assert last["settings"].get(key) == compared["settings"].get(key), key
  assert "one scale" in last["label"] and "2 scales" in compared["label"]


def test_loss_curves(tmp_path, pictures, tiny_weights_file):
  metrics = tmp_path / "m.json"
  metrics.write_text(json.dumps({"history": {"total": [[3.0], [2.0], [1.0]],
                                             "content": [[1], [1], [1]],
                                             "style": [[2], [1], [0.5]],
                                             "time": [0, 1, 2]}}))
  done = _run("loss_curves", f"--metrics={metrics}", f"--output={tmp_path / 'l.png'}")
  assert done.returncode == 0, done.stderr
  assert Image.open(tmp_path / "l.png").size[0] > 100
  done = _run("loss_curves", f"--metrics={tmp_path / 'none.json'}")
  assert done.returncode == 1 and "cannot read" in done.stderr


def test_missing_normalized_weights_is_clear(tmp_path, pictures, monkeypatch):
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(tmp_path / "w.npz"))
  done = _run("pooling", f"--content={pictures / 'content.png'}",
              f"--style={pictures / 'style.png'}", f"--output_dir={tmp_path}")
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert "jaxstyle.weights normalize" in done.stderr.splitlines()[-1]


@pytest.mark.parametrize("name", ["networks", "default_look"])
@pytest.mark.slow
def test_experiments_that_load_their_networks(tmp_path, pictures, tiny_weights, name,
                                              monkeypatch):
  """Experiments that load each network's default file: tiny ones in $JAXSTYLE_WEIGHTS's
  directory (VGG-19, its normalized copy, VGG-16, AlexNet)."""
  from jaxstyle import weights as weights_lib
  from jaxstyle.weights import lpips as lpips_weights
  d = tmp_path / "weights"
  d.mkdir()
  weights_lib.save(tiny_weights, d / weights_lib.DEFAULT_FILENAME)
  weights_lib.save(tiny_weights, d / weights_lib.NORMALIZED_FILENAME)
  widths = {"vgg": (4, 6, 8, 8, 8), "alex": (6, 8, 8, 8, 8)}
  for lp, network in lpips_weights.LPIPS_TRUNKS.items():
    jaxstyle.weights.save(jaxstyle.weights.random_weights(network=network, widths=widths[lp]),
                       lpips_weights.network_path(network, d))
  # With the heads beside them, nothing is fetched: the runs use these tiny networks.
  lpips_weights.save_heads({lp: lpips_weights.random_heads(lp, widths=w)
                            for lp, w in widths.items()}, {"source": "random"},
                           lpips_weights.heads_path(d))
  args = [f"--content={pictures / 'content.png'}", f"--style={pictures / 'style.png'}",
          f"--output_dir={tmp_path}"]
  if name == "networks":
    args += ["--image_size=72", "--num_steps=3"]
  else:
    args += ["--sizes=32,40", "--paper_sizes=32", "--steps=3",
             f"--figure={tmp_path / 'look.jpg'}"]
  monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(d / weights_lib.DEFAULT_FILENAME))
  done = _run(name, *args)
  assert done.returncode == 0, done.stderr[-3000:]
  payload = json.loads((tmp_path / f"{name}.json").read_text())
  if name == "networks":
    assert [r["label"] for r in payload["runs"]] == ["vgg19", "vgg16", "alexnet"]
    assert jaxstyle.weights.load(lpips_weights.network_path("vgg16", d)).widths[0] == 4
    assert (tmp_path / "networks.jpg").exists()
  else:
    modes = [(r["mode"], r["size"]) for r in payload["runs"]]
    assert modes == [("default", 32), ("default", 40), ("gatys2016", 32)]
    assert payload["runs"][0]["init"] == "content"
    assert payload["runs"][2]["content_normalization"] == "sum"
    assert (tmp_path / "look.jpg").exists()


def test_all_runs_each_figure_once_and_resumes(tmp_path):
  """experiments.all: a second call skips what is done; a changed size reruns; a failed
  figure is retried by the next call and does not stop the others."""
  from experiments import all as all_figures  # pylint: disable=import-outside-toplevel
  figures = [all_figures.Figure("a", 1.0, ("--num_steps=5",)), all_figures.Figure("b", 0.5)]
  calls, fail = [], {"b"}

  def runner(argv):
    name = argv[1].split(".")[-1]
    calls.append(list(argv))
    if name in fail:
      return 1
    out = pathlib.Path(argv[-1].split("=", 1)[1])
    (out / f"{name}.json").write_text("{}")
    return 0

  ran, failed = all_figures.run_all(figures, size=64, output_dir=tmp_path, runner=runner)
  assert (ran, failed) == (["a"], ["b"])
  assert calls[0] == ["-m", "experiments.a", "--image_size=64", "--num_steps=5",
                      f"--output_dir={tmp_path}"]
  assert calls[1][2] == "--image_size=32"
  fail.clear()
  calls.clear()
  assert all_figures.run_all(figures, size=64, output_dir=tmp_path, runner=runner) == (["b"], [])
  assert all_figures.run_all(figures, size=64, output_dir=tmp_path, runner=runner) == ([], [])
  assert len(calls) == 1
  assert all_figures.run_all(figures, size=128, output_dir=tmp_path, runner=runner)[0] == ["a", "b"]
  record = json.loads((tmp_path / "all.json").read_text())
  assert record["a"]["command"][2] == "--image_size=128"
  assert all_figures.run_all(figures, size=64, output_dir=tmp_path, runner=runner,
                             dry_run=True) == ([], [])
  # A variant of "a": its own directory and record key; "a" itself stays done.
  variant = all_figures.Figure("a", 1.0, ("--ratio=1e-5",), variant="low")
  (tmp_path / "low").mkdir()
  calls.clear()
  assert all_figures.run_all([*figures, variant], size=128, output_dir=tmp_path,
                             runner=runner) == (["a/low"], [])
  assert calls == [["-m", "experiments.a", "--image_size=128", "--ratio=1e-5",
                    f"--output_dir={tmp_path / 'low'}"]]
  record = json.loads((tmp_path / "all.json").read_text())
  assert record["a/low"]["command"] == calls[0] and record["a"]["command"][2] == "--image_size=128"
  assert {f.name for f in all_figures.FIGURES} >= {"reconstructions", "artworks",
                                                   "initialization", "photorealistic"}


def test_all_defines_no_flags_on_import(tmp_path):
  """experiments.all and the benchmarks share flag names (--size, --only): importing it
  leaves the flags alone; run, it lists what it would do."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  from experiments import all as all_figures  # pylint: disable=import-outside-toplevel
  assert all_figures.FIGURES
  assert "dry_run" not in flags.FLAGS or not flags.FLAGS["dry_run"].help.startswith(
      "List the figures")
  done = subprocess.run([sys.executable, "-m", "experiments.all", "--dry_run",
                         "--only=artworks", f"--output_dir={tmp_path}"], capture_output=True,
                        text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120,
                        check=False)
  assert done.returncode == 0, done.stderr
  assert "experiments.artworks --image_size=512 --num_steps=500" in done.stderr
  assert not (tmp_path / "all.json").exists()
