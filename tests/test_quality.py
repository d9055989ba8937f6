"""benchmarks.quality: the plan, resumable runs and the report, on tiny networks."""

import json
import types

import numpy as np
import pytest
from absl import flags
from PIL import Image

from benchmarks import quality
import jaxstyle
from jaxstyle import metrics
from jaxstyle.metrics import lpips
from jaxstyle.gatys import transfer
from jaxstyle.weights import lpips as lpips_weights

TINY = {"vgg16": (4, 6, 8, 8, 8), "alexnet": (6, 8, 8, 8, 8)}
# benchmarks.quality's absl flags (--output_dir, --size, ...) serve only its main(); they
# are taken out of the process's flags so that the commands tested in-process
# (jaxstyle.cli, which define some of the same names) can define theirs.
for _flag in list(flags.FLAGS.flags_by_module_dict().get(quality.__name__, [])):
  delattr(flags.FLAGS, _flag.name)
JUDGES = ("content/lpips_alex", "style/gram_vgg16", "style/sw_alexnet")


@pytest.fixture(scope="module")
def judge_setup():
  nets = {n: jaxstyle.weights.random_weights(network=n, seed=3, widths=w) for n, w in TINY.items()}
  lp = {"alex": lpips.lpips_params("alex", trunk=nets["alexnet"],
                                   heads=lpips_weights.random_heads("alex", widths=TINY["alexnet"]))}
  return dict(judge_networks=nets, lpips_weights=lp, judges=JUDGES)


@pytest.fixture()
def pair(tmp_path):
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:40, 0:48] / 48
  content = np.stack([yy, xx, 0.5 * (xx + yy)], -1)
  style = rng.uniform(size=(44, 40, 3))
  paths = []
  for name, image in (("c.png", content), ("s.png", style)):
    Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / name)
    paths.append(str(tmp_path / name))
  return quality.Pair("c", "s", *paths)


def test_plan_order_names_and_recipe_hook(tmp_path, monkeypatch):
  pairs = quality.make_pairs(tmp_path)
  runs = quality.plan(pairs, recipes=("mine", "absent"))
  groups = [r.group for r in runs]
  assert groups == sorted(groups)  # a, b, c, d, f in order (no such recipe in presets).
  assert len(runs) == 24 + 24 + 32 + 1 + 8
  schedule = [r for r in runs if r.group == "f" and r.size == 512]
  assert len(schedule) == 4 and {r.kwargs["scales"] for r in schedule} == {1, None}
  assert all(r.time_scale == 2.0 for r in schedule)
  assert quality.settings_of(schedule[0], size=256, time_limit=40)["size"] == 512
  assert quality.settings_of(schedule[0], size=256, time_limit=40)["time_limit"] == 80
  assert len({r.name for r in runs}) == len(runs)
  assert runs[0].name == "gram_vgg19__tubingen-starry_night"
  assert all(r.kwargs["content_normalization"] == "mean" for r in runs)
  assert not any(r.factor == 1.0 for r in runs if r.group == "c")  # 1x is run a.
  seeds = [r for r in runs if r.group == "d"]
  assert seeds[0].kwargs["num_seeds"] == 8 and seeds[0].kwargs["init"] == "noise"
  from jaxstyle.gatys import presets
  from jaxstyle.gatys.config import StylizeConfig
  monkeypatch.setitem(presets.PRESETS, "mine",
                      StylizeConfig().replace(style_loss="mean_cov", image_size=512))
  runs = quality.plan(pairs, recipes=("mine", "absent"))
  recipe = [r for r in runs if r.group == "e"]
  assert len(recipe) == 6 and recipe[0].name == "recipe-mine__tubingen-starry_night"
  assert recipe[0].style_loss == "mean_cov"


@pytest.mark.slow
def test_runs_write_json_and_jpg_then_skip_and_rerun_changed(tmp_path, pair, tiny_weights,
                                                             judge_setup):
  calls = []

  def stylize(content, style, **kwargs):
    calls.append(kwargs["style_weight"])
    return transfer.stylize(content, style, **kwargs)

  kwargs = dict(quality.method_kwargs("gram", "vgg19"), style_weight=1.0)
  runs = [quality.Run("gram_vgg19", pair, kwargs, "a", factor=1.0),
          quality.Run("gram_vgg19_x3", pair, dict(kwargs, style_weight=3.0), "c", factor=3.0,
                      base="gram_vgg19")]
  out = tmp_path / "runs"
  setup = dict(out_dir=out, size=48, time_limit=0.5, stylize_fn=stylize,
               weights={"vgg19": tiny_weights}, **judge_setup)
  records, ran = quality.run_all(runs, **setup)
  assert ran == [r.name for r in runs] and calls == [1.0, 3.0]
  for run, record in zip(runs, records):
    data = json.loads((out / f"{run.name}.json").read_text())
    assert data == record and data["settings"]["time_limit"] == 0.5
    assert data["steps"] >= 1 and set(data["judges"]) == set(JUDGES)
    assert data["settings"]["stylize"]["style_weight"] == run.kwargs["style_weight"]
    with Image.open(out / f"{run.name}.jpg") as im:
      assert im.format == "JPEG" and im.size == (48, 40)
  mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

  records2, ran = quality.run_all(runs, **setup)
  assert ran == [] and calls == [1.0, 3.0] and records2 == records
  assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes

  runs[1] = quality.Run("gram_vgg19_x3", pair, dict(kwargs, style_weight=2.0), "c",
                        factor=3.0, base="gram_vgg19")
  _, ran = quality.run_all(runs, **setup)
  assert ran == ["gram_vgg19_x3__c-s"] and calls == [1.0, 3.0, 2.0]
  assert (out / "gram_vgg19__c-s.json").stat().st_mtime_ns == mtimes["gram_vgg19__c-s.json"]

  paths = quality.write_report(quality.run_all(runs, **setup)[0], tmp_path, runs_dir=out,
                               time_limit=0.5, size=48)
  md = paths["md"].read_text()
  assert "| gram_vgg19 | 1 |" in md and "| gram_vgg19_x3 | 1 |" in md
  with Image.open(paths["frontier"]) as im:
    assert im.format == "PNG"
  with Image.open(tmp_path / "quality_sheet_c-s.jpg") as im:
    assert im.format == "JPEG"
  assert len(json.loads(paths["json"].read_text())["runs"]) == 2


@pytest.mark.slow
def test_seed_runs_are_ranked(tmp_path, pair, judge_setup):
  """A multi-seed result: every image judged, the order by LPIPS, a sheet of the seeds."""
  def fake_stylize(content, style, **kwargs):
    rng = np.random.default_rng(0)
    images = np.stack([np.clip(content + s * rng.normal(size=content.shape), 0, 1)
                       for s in (0.3, 0.0, 0.1)]).astype(np.float32)
    history = {k: np.zeros((3, 3)) for k in ("total", "content", "style")}
    history["time"] = np.array([0.0, 1.0, 2.0])
    return types.SimpleNamespace(images=images, history=history, steps=2, stopped=None,
                                 seeds=[0, 1, 2], run={"time_limited": True})

  run = quality.Run("gram_vgg19_seeds3", pair, dict(quality.method_kwargs("gram", "vgg19"),
                                                   init="noise", num_seeds=3), "d")
  (record,), _ = quality.run_all([run], out_dir=tmp_path, size=48, time_limit=1.0,
                                 stylize_fn=fake_stylize, weights={"vgg19": None},
                                 **judge_setup)
  assert record["rank"]["lpips"] == [1, 2, 0]
  assert len(record["judges"]["style/gram_vgg16"]) == 3
  assert (tmp_path / f"{run.name}_seeds.jpg").is_file()


def _record(method, pair, network, loss, values, group="a", factor=1.0):
  return {"name": f"{method}__{pair}", "method": method, "pair": pair, "network": network,
          "style_loss": loss, "group": group, "factor": factor, "steps": 10,
          "judges": {j: [v] for j, v in zip(metrics.JUDGES, values)},
          "independent": {j: metrics.independent(j, network, loss) for j in metrics.JUDGES},
          "image": "none.jpg", "settings": {"content": "x", "style": "y"}}


def test_ratio_table_marks_own_loss_and_frontier(tmp_path):
  n = len(metrics.JUDGES)
  records = [_record("gram_vgg19", "p", "vgg19", "gram", [1.0] * n),
             _record("gram_vgg19", "q", "vgg19", "gram", [2.0] * n),
             _record("gram_vgg16", "p", "vgg16", "gram", [2.0] * n),
             _record("gram_vgg16", "q", "vgg16", "gram", [8.0] * n),
             _record("gram_vgg19_x3", "p", "vgg19", "gram", [3.0] * n, "c", 3.0)]
  table = quality.ratios(records)
  assert table["gram_vgg19"]["style/gram_vgg16"]["ratio"] == pytest.approx(1.0)
  assert table["gram_vgg16"]["content/lpips_alex"]["ratio"] == pytest.approx(np.sqrt(2 * 4))
  assert not table["gram_vgg16"]["style/gram_vgg16"]["independent"]
  md = quality.markdown(records, time_limit=40, size=256)
  row = next(l for l in md.splitlines() if l.startswith("| gram_vgg16 |"))
  cells = row.strip("|").split("|")
  assert cells[3 + metrics.JUDGES.index("style/gram_vgg16")].strip() == "2.83*"
  assert cells[3 + metrics.JUDGES.index("style/sw_vgg16")].strip() == "2.83"
  points = quality.frontier_points(records)
  assert points == {("gram", "p"): [(1.0, 1.0, 1.0), (3.0, 3.0, 3.0)]}
  quality.frontier_plot(records, tmp_path / "f.png")
  with Image.open(tmp_path / "f.png") as im:
    assert im.size == (900, 620)


@pytest.mark.slow
def test_calibration_scales_equal_the_formulas(pair, tiny_weights):
  """The scales `calibrate` divides by, against NumPy from the paper's formulas: the
  Gram style loss (w_l = 1/5 over conv1_1..conv5_1, each sum (G/M - A/M_s)^2 / (4 C^2))
  at the content photo, and the mean content loss at conv4_2 of the style image
  resized to the photo; forward passes only (the same values twice)."""
  from jaxstyle import features, images  # pylint: disable=import-outside-toplevel
  content, style = images.load_image(pair.content_path, 48), images.load_image(pair.style_path, 48)
  scales = quality.loss_scales(content, style, "gram", "vgg19", tiny_weights)
  layers = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
  resized = images.resize_to(style, *content.shape[:2])
  feats = features.extract_features(np.stack([content, resized]), layers + ("conv4_2",),
                                    weights=tiny_weights)
  style_feats = features.extract_features(style[None], layers, weights=tiny_weights)
  style_start = 0.0
  for layer in layers:
    f = np.asarray(feats[layer][0], np.float64).reshape(-1, feats[layer].shape[-1])
    a = np.asarray(style_feats[layer][0], np.float64).reshape(-1, f.shape[1])
    gram_diff = f.T @ f / len(f) - a.T @ a / len(a)
    style_start += np.sum(np.square(gram_diff)) / (4 * f.shape[1]**2) / len(layers)
  content_scale = np.mean(np.square(np.asarray(feats["conv4_2"][1], np.float64)
                                    - np.asarray(feats["conv4_2"][0], np.float64)))
  np.testing.assert_allclose(scales["style_start"], style_start, rtol=1e-4)
  np.testing.assert_allclose(scales["content_scale"], content_scale, rtol=1e-4)
  assert quality.loss_scales(content, style, "gram", "vgg19", tiny_weights) == scales
