r"""Quality at equal wall time: every style loss and feature network, judged by networks
and distances it did not optimize (`jaxstyle.metrics`).

  python -m benchmarks.quality --dry_run                 # lists the ~80 runs
  python -m benchmarks.quality --time_limit=40           # this CPU: ~1.5-2 h at 256 px
  python -m benchmarks.quality --only='^gram_vgg19__'    # a subset (regex on run names)
  python -m benchmarks.quality --report                  # the report from what is there
  python -m benchmarks.quality --calibrate               # re-derives CALIBRATED (~10 min)

Each run (method x content/style pair) optimizes for --time_limit seconds (compiling
excluded; `stylize(time_limit=...)`, num_steps only an upper bound) from the content
photo with the mean content loss, then writes benchmarks/results/quality/RUN.json
(settings, steps, seconds, every judge's value) and RUN.jpg (quality 90), atomically. A
rerun skips the runs whose JSON holds the requested settings, so an interrupted run
continues where it stopped; a changed setting (e.g. --time_limit) reruns. At the end
(or with --report) it writes benchmarks/results/quality.json (all runs), quality.md
(per method, each judge's value as a ratio to gram_vgg19 on the same pair, geometric
mean over the pairs, * where the judge is the method's own loss), quality_frontier.png
(content LPIPS against the mean style ratio along the style-weight sweep) and
quality_sheet_PAIR.jpg (each method's output on one pair).

The grid, in the order it runs (most important first):
  a. the four style losses on VGG-19, on all six pairs;
  b. VGG-16 and AlexNet, each with gram and mean_cov, on all six pairs;
  c. style weights 0.1x, 0.3x, 3x, 10x the calibrated one (1x is run a) for the four
     losses on tubingen x starry_night and golden_gate x shipwreck: the content-vs-style
     frontier (Kolkin et al. 2019; Yeh et al. 2019);
  d. eight white-noise seeds of gram_vgg19 on tubingen x starry_night, one vmapped run
     at the same wall time (steps reported), ranked by `metrics.rank`;
  f. the default's schedule and TV, on the two sweep pairs: gram_vgg19 at 512 px (twice
     the time) with one scale and with the default coarse-to-fine (2 scales), and
     gram_vgg19 at --size with TV weights 1e6 and 1e7 (about 1% and 10% of the final
     content term);
  e. recipe:NAME for every name in RECIPES that `jaxstyle.gatys.presets.PRESETS` has (a
     `StylizeConfig`, run with its changes from the defaults as `stylize` keyword
     arguments but the size, which the benchmark sets: crowsonkb's and neural-style's
     recipes; the
     third recipe, jaxstyle's own default, is run a's gram_vgg19), on all six pairs,
     each with its own start, optimizer and schedule at the same wall time.

Calibration (`--calibrate`, written to results/quality_calibration.json), on
tubingen x starry_night at 256 px: gram/vgg19 keeps the library's default beta = 1e-3;
each other (loss, network) gets beta = 1e-3 (S0_ref / K_ref) / (S0 / K), S0 its style
loss at the content photo and K its network's content loss of the style image against
the photo (forward passes only: deterministic), rounded to one digit; a 15-s run each
then checks that beta * style / content at its end is of the order of 1 (0.6-9.1; the
reference 0.87). Fitting that end ratio directly was tried and dropped: it depends
weakly and, with the few steps the slow losses get, not even monotonically on beta.
See CALIBRATED for the values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import re
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from absl import app, flags, logging
from PIL import Image, ImageDraw

from jaxstyle import images as images_lib
from jaxstyle import metrics
from jaxstyle.gatys import objective
from jaxstyle._atomic import atomic_path

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"
VERSION = 1  # Bump when a run's meaning changes without its settings changing.

# Content and style images, relative to the shared folder.
IMAGES = {
    "tubingen": "images/tubingen.jpg",
    "golden_gate": "images/golden_gate.jpg",
    "hoovertowernight": "images/hoovertowernight.jpg",
    "starry_night": "images/starry_night.jpg",
    "the_scream": "images/the_scream.jpg",
    "shipwreck": "images/shipwreck.jpg",
    "seated-nude": "images/seated-nude.jpg",
    # BSDS500 test photos, landscape, with clear structure: a lighthouse and houses on
    # a rocky shore under a blue sky; a grassy mountain with trees and a field.
    "bsds228076": "datasets/bsds500/test/228076.jpg",
    "bsds28083": "datasets/bsds500/test/28083.jpg",
}
PAIR_NAMES = (("tubingen", "starry_night"), ("tubingen", "the_scream"),
              ("golden_gate", "shipwreck"), ("hoovertowernight", "seated-nude"),
              ("bsds228076", "starry_night"), ("bsds28083", "the_scream"))
SWEEP_PAIRS = (("tubingen", "starry_night"), ("golden_gate", "shipwreck"))
SWEEP_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
LOSSES = ("gram", "mean_cov", "sliced_wasserstein", "histogram")
SHORT = {"gram": "gram", "mean_cov": "mean_cov", "sliced_wasserstein": "sw",
         "histogram": "hist"}
NUM_SEEDS = 8
# Presets (jaxstyle.gatys.presets.PRESETS) of other tools' recipes to benchmark.
RECIPES: tuple[str, ...] = ("crowsonkb", "neural_style")
BASELINE = "gram_vgg19"

# beta per (style loss, network), alpha = 1, mean content loss, from the content photo:
# `--calibrate` on tubingen x starry_night at 256 px (results/quality_calibration.json),
# now the library's defaults (objective.DEFAULT_STYLE_WEIGHTS): gram/vgg19 chosen by eye,
# the others with its weighted style term at the photo relative to their network's
# content scale (`calibrate`). The 15-s check runs' beta * style / content at their end
# (steps), "of the order of 1" for all, gram/vgg19's the reference: gram/vgg19 0.87
# (18), mean_cov/vgg19 3.9 (8), sliced_wasserstein/vgg19 1.4 (24), gram/vgg16 0.76 (37),
# mean_cov/vgg16 9.1 (6), gram/alexnet 0.68 (319), mean_cov/alexnet 2.6 (45);
# histogram/vgg19 (half gram's, with HISTOGRAM_WEIGHT) was not re-checked.
CALIBRATED = dict(objective.DEFAULT_STYLE_WEIGHTS)
# Risser's gamma for the histogram runs.
HISTOGRAM_WEIGHT = objective.DEFAULT_HISTOGRAM_WEIGHT
# Settings every run shares (some spelled out where stylize's defaults may change).
COMMON = dict(content_normalization="mean", init="content", content_weight=1.0,
              tv_weight=0.0, optimizer="lbfgs", num_steps=100_000, scales=1, seed=0,
              pooling="max", log_every=0)

flags.DEFINE_float("time_limit", 40.0, "Seconds of optimization per run (compile excluded).",
                   lower_bound=0.1)
flags.DEFINE_integer("size", 256, "Longer side of the content and style images, px.",
                     lower_bound=32)
flags.DEFINE_string("only", None, "Run only the runs whose name matches this regex.")
flags.DEFINE_bool("dry_run", False, "List the runs (and whether they are done) and exit.")
flags.DEFINE_bool("report", False, "Write the report from the results there; run nothing.")
flags.DEFINE_bool("calibrate", False, "Measure the style weights of CALIBRATED and exit.")
flags.DEFINE_string("shared", str(SHARED), "The shared folder (images/, datasets/).")
flags.DEFINE_string("output_dir", str(RESULTS), "Results folder (RUN files go in quality/).")
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Pair:
  content: str  # Image names (IMAGES keys) or paths.
  style: str
  content_path: str
  style_path: str

  @property
  def name(self) -> str:
    return f"{self.content}-{self.style}"


@dataclasses.dataclass(frozen=True)
class Run:
  """One stylization: `kwargs` for stylize (without weights and time_limit)."""
  method: str
  pair: Pair
  kwargs: Mapping[str, Any]
  group: str
  network: str = "vgg19"
  style_loss: str = "gram"
  factor: float | None = None   # Style-weight sweeps: the multiple of the calibrated beta.
  base: str | None = None       # Sweeps: the method at 1x; f: the run it is compared with.
  size: int | None = None       # Another size than --size (part f).
  time_scale: float = 1.0       # Its time limit, in --time_limit's.

  @property
  def name(self) -> str:
    return f"{self.method.replace(':', '-')}__{self.pair.name}"


def make_pairs(shared: str | os.PathLike, names=PAIR_NAMES) -> dict[tuple[str, str], Pair]:
  shared = pathlib.Path(shared)
  return {(c, s): Pair(c, s, str(shared / IMAGES[c]), str(shared / IMAGES[s]))
          for c, s in names}


def method_kwargs(style_loss: str, network: str, factor: float = 1.0) -> dict[str, Any]:
  beta = CALIBRATED[(style_loss, network)] * factor
  kwargs = dict(COMMON, style_loss=style_loss, network=network,
                style_weight=float(f"{beta:.6g}"))
  if style_loss == "histogram":  # Recorded: the library's default may change.
    kwargs["histogram_weight"] = HISTOGRAM_WEIGHT
  return kwargs


def _recipes(names: Sequence[str]) -> dict[str, dict[str, Any]]:
  """{name: stylize kwargs}: the preset's changes from the defaults, but its image size
  (the benchmark's sizes apply), for the names `jaxstyle.gatys.presets.PRESETS` has."""
  from jaxstyle.gatys import presets  # pylint: disable=import-outside-toplevel
  found = {}
  for name in names:
    if name in presets.PRESETS:
      found[name] = presets.PRESETS[name].changes()
      found[name].pop("image_size", None)
    else:
      logging.info("recipe:%s is not in jaxstyle.gatys.presets.PRESETS; skipped", name)
  return found


def plan(pairs: Mapping[tuple[str, str], Pair], recipes: Sequence[str] = RECIPES
         ) -> list[Run]:
  """Every run, most important first (groups a-e of the module docstring)."""
  runs = []
  all_pairs = [pairs[p] for p in PAIR_NAMES if p in pairs]
  for pair in all_pairs:                                      # a
    for loss in LOSSES:
      runs.append(Run(f"{SHORT[loss]}_vgg19", pair, method_kwargs(loss, "vgg19"), "a",
                      "vgg19", loss, 1.0))
  for pair in all_pairs:                                      # b
    for network in ("vgg16", "alexnet"):
      for loss in ("gram", "mean_cov"):
        runs.append(Run(f"{SHORT[loss]}_{network}", pair, method_kwargs(loss, network),
                        "b", network, loss, 1.0))
  for p in SWEEP_PAIRS:                                       # c
    if p not in pairs:
      continue
    for loss in LOSSES:
      for factor in SWEEP_FACTORS:
        if factor == 1.0:
          continue  # Run a.
        runs.append(Run(f"{SHORT[loss]}_vgg19_x{factor:g}", pairs[p],
                        method_kwargs(loss, "vgg19", factor), "c", "vgg19", loss, factor,
                        base=f"{SHORT[loss]}_vgg19"))
  if SWEEP_PAIRS[0] in pairs:                                 # d
    kwargs = dict(method_kwargs("gram", "vgg19"), init="noise", num_seeds=NUM_SEEDS)
    runs.append(Run(f"{BASELINE}_seeds{NUM_SEEDS}", pairs[SWEEP_PAIRS[0]], kwargs, "d"))
  for p in SWEEP_PAIRS:                                       # f
    if p not in pairs:
      continue
    base = method_kwargs("gram", "vgg19")
    for name, scales in (("scales1", 1), ("scales_auto", None)):
      runs.append(Run(f"{BASELINE}_512_{name}", pairs[p], dict(base, scales=scales), "f",
                      base=f"{BASELINE}_512_scales1", size=512, time_scale=2.0))
    for tv in (1e6, 1e7):
      runs.append(Run(f"{BASELINE}_tv{tv:.0e}".replace("+0", ""), pairs[p],
                      dict(base, tv_weight=tv), "f", base=BASELINE))
  for name, kwargs in _recipes(recipes).items():              # e
    kwargs = dict(kwargs)
    for pair in all_pairs:
      runs.append(Run(f"recipe:{name}", pair, kwargs, "e", kwargs.get("network", "vgg19"),
                      kwargs.get("style_loss", "gram")))
  return runs


def settings_of(run: Run, *, size: int, time_limit: float) -> dict[str, Any]:
  """What a result must have been made with to be reused (JSON-comparable)."""
  return json.loads(json.dumps({
      "version": VERSION, "method": run.method, "pair": run.pair.name,
      "content": run.pair.content_path, "style": run.pair.style_path,
      "size": run.size or size, "time_limit": time_limit * run.time_scale,
      "stylize": dict(run.kwargs)}, sort_keys=True))


def _read_json(path: pathlib.Path) -> dict | None:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def _write_json(data: Any, path: pathlib.Path) -> None:
  with atomic_path(path) as tmp:
    pathlib.Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def is_done(run: Run, out_dir: pathlib.Path, settings: Mapping[str, Any]) -> dict | None:
  """The run's record if its JSON holds these settings and its JPG exists."""
  record = _read_json(out_dir / f"{run.name}.json")
  if record is None or record.get("settings") != settings:
    return None
  if not (out_dir / f"{run.name}.jpg").is_file():
    return None
  return record


def default_stylize(content, style, **kwargs):
  from jaxstyle.gatys import transfer  # pylint: disable=import-outside-toplevel
  return transfer.stylize(content, style, **kwargs)


def run_all(runs: Sequence[Run], *, out_dir: str | os.PathLike, size: int,
            time_limit: float, stylize_fn: Callable[..., Any] = default_stylize,
            weights: Mapping[str, Any] | None = None,
            judge_networks: Mapping[str, Any] | None = None,
            lpips_weights: Mapping[str, Any] | None = None,
            judges: Sequence[str] = metrics.JUDGES) -> tuple[list[dict], list[str]]:
  """Runs what is not done yet; returns (every run's record, the names run now).

  Args:
    stylize_fn: `transfer.stylize` or a stand-in with its signature (tests).
    weights: {network: weights} for stylize (None or a missing one: the default file).
    judge_networks, lpips_weights, judges: for `metrics.judge` (None: the real weights).
  """
  out_dir = pathlib.Path(out_dir)
  weights = dict(weights or {})
  records, ran, loaded, targets = [], [], {}, {}
  todo = []
  for run in runs:
    settings = settings_of(run, size=size, time_limit=time_limit)
    record = is_done(run, out_dir, settings)
    if record is None:
      todo.append((run, settings))
    records.append(record)
  logging.info("%d runs, %d done before, %d to run", len(runs), len(runs) - len(todo),
               len(todo))
  started, index = time.perf_counter(), {r.name: i for i, r in enumerate(runs)}

  def image(path, px):
    if (path, px) not in loaded:
      loaded[(path, px)] = images_lib.load_image(path, px)
    return loaded[(path, px)]

  for k, (run, settings) in enumerate(todo):
    content = image(run.pair.content_path, settings["size"])
    style = image(run.pair.style_path, settings["size"])
    network = run.kwargs.get("network", "vgg19")
    if network not in weights:
      from jaxstyle import features  # pylint: disable=import-outside-toplevel
      weights[network] = features.load_weights(network, log=logging.info)
    t0 = time.perf_counter()
    try:
      result = stylize_fn(content, style, weights=weights[network],
                          time_limit=settings["time_limit"], **run.kwargs)
    except Exception:  # pylint: disable=broad-except
      logging.exception("run %s failed; continuing (a rerun retries it)", run.name)
      continue
    wall = time.perf_counter() - t0
    outputs = np.asarray(result.images, np.float32)
    target_key = (run.pair.style_path, settings["size"])
    if target_key not in targets:
      targets[target_key] = metrics.judge_targets(
          style, networks=judge_networks,
          judges=[j for j in judges if j in metrics.STYLE_JUDGES])
    values = metrics.judge(outputs, content, targets=targets[target_key],
                           networks=judge_networks, lpips_weights=lpips_weights,
                           judges=judges)
    history = result.history
    t = np.asarray(history["time"])
    record = {
        "name": run.name, "method": run.method, "pair": run.pair.name, "group": run.group,
        "network": run.network, "style_loss": run.style_loss, "factor": run.factor,
        "base": run.base, "settings": settings, "steps": int(result.steps),
        "stopped": result.stopped,
        "seconds": float(t[-1] - t[1]) if len(t) > 1 else 0.0,
        "wall_seconds": wall, "time_limited": bool(result.run.get("time_limited")),
        "final_losses": {c: np.asarray(history[c])[-1].tolist()
                         for c in ("total", "content", "style")},
        "judges": {j: np.asarray(v).tolist() for j, v in values.items()},
        "independent": {j: metrics.independent(j, run.network, run.style_loss)
                        for j in values},
        "image": f"{run.name}.jpg",
    }
    if outputs.shape[0] > 1 and "content/lpips_alex" in values:
      record["rank"] = {by: metrics.rank_metrics(values, by).tolist()
                        for by in metrics.RANKINGS
                        if by == "lpips" or any(j in values for j in metrics.STYLE_JUDGES)}
      order = record["rank"]["lpips"]
      sheet = images_lib.contact_sheet(
          [outputs[i] for i in order],
          [f"seed {result.seeds[i]} #{r + 1}" for r, i in enumerate(order)])
      images_lib.save_image(sheet, out_dir / f"{run.name}_seeds.jpg", quality=85)
    images_lib.save_image(outputs[0], out_dir / f"{run.name}.jpg", quality=90)
    _write_json(record, out_dir / f"{run.name}.json")  # Last: it marks the run done.
    records[index[run.name]] = record
    ran.append(run.name)
    elapsed = time.perf_counter() - started
    logging.info("[%d/%d] %s: %d steps in %.1f s (%.1f s with compiling); "
                 "lpips_alex %.3f; ETA %.0f min", k + 1, len(todo), run.name,
                 record["steps"], record["seconds"], wall,
                 float(np.mean(values.get("content/lpips_alex", [np.nan]))),
                 elapsed / (k + 1) * (len(todo) - k - 1) / 60)
  return [r for r in records if r is not None], ran


# --- Report ----------------------------------------------------------------------------


def _mean(values) -> float:
  return float(np.mean(np.asarray(values, np.float64)))


def _size(record: dict) -> int | None:
  return record.get("settings", {}).get("size")


def ratios(records: Sequence[dict], baseline: str = BASELINE) -> dict[str, dict[str, dict]]:
  """{method: {judge: {"ratio": geometric mean over pairs of value / baseline's on the
  pair, "pairs": count, "independent": bool}}}; runs at another size than the
  baseline's are left out (part f reports them against its own reference)."""
  base = {r["pair"]: r for r in records if r["method"] == baseline}
  out: dict[str, dict[str, dict]] = {}
  for method in dict.fromkeys(r["method"] for r in records):
    rows = [r for r in records if r["method"] == method and r["pair"] in base
            and _size(r) == _size(base[r["pair"]])]
    if not rows:
      continue
    cells = {}
    for judge in metrics.JUDGES:
      logs = [math.log(_mean(r["judges"][judge]) / _mean(base[r["pair"]]["judges"][judge]))
              for r in rows if judge in r["judges"] and judge in base[r["pair"]]["judges"]
              and _mean(base[r["pair"]]["judges"][judge]) > 0
              and _mean(r["judges"][judge]) > 0]
      if logs:
        cells[judge] = {"ratio": math.exp(sum(logs) / len(logs)), "pairs": len(logs),
                        "independent": all(r["independent"].get(judge, True) for r in rows)}
    out[method] = cells
  return out


def style_ratio(record: dict, base: dict) -> float:
  """Mean over the style judges of the record's value / the baseline's on the pair."""
  values = [_mean(record["judges"][j]) / _mean(base["judges"][j])
            for j in metrics.STYLE_JUDGES
            if j in record["judges"] and j in base["judges"] and _mean(base["judges"][j]) > 0]
  return float(np.mean(values)) if values else float("nan")


def markdown(records: Sequence[dict], *, time_limit: float | None, size: int | None) -> str:
  table = ratios(records)
  judges = [j for j in metrics.JUDGES if any(j in c for c in table.values())]
  lines = [f"Quality at equal wall time ({time_limit} s of optimization per run, {size} px):"
           f" each judge's value as a ratio to {BASELINE} on the same pair, geometric mean "
           "over the pairs (lower: closer to the photo / the style). * : the judge is the "
           "method's own loss (not independent).", ""]
  lines.append("| method | pairs | steps | " + " | ".join(judges) + " |")
  lines.append("|---|---|---|" + "---|" * len(judges))
  for method, cells in table.items():
    rows = [r for r in records if r["method"] == method]
    steps = np.mean([r["steps"] for r in rows])
    row = [method, str(len(rows)), f"{steps:.0f}"]
    for j in judges:
      c = cells.get(j)
      row.append("—" if c is None else f"{c['ratio']:.3g}" + ("" if c["independent"] else "*"))
    lines.append("| " + " | ".join(row) + " |")
  base = [r for r in records if r["method"] == BASELINE]
  if base:
    lines += ["", f"{BASELINE}'s values (the denominators):", "",
              "| pair | steps | " + " | ".join(judges) + " |",
              "|---|---|" + "---|" * len(judges)]
    for r in base:
      lines.append(f"| {r['pair']} | {r['steps']} | " + " | ".join(
          f"{_mean(r['judges'][j]):.4g}" if j in r["judges"] else "—" for j in judges) + " |")
  part_f = [r for r in records if r.get("group") == "f"]
  if part_f:
    lines += ["", "Part f, each run against the run it varies (its `base`, same pair and "
              "size): the mean style ratio over the six style judges.", "",
              "| run | pair | size | steps | content/lpips_alex | content/lpips_vgg | "
              "style vs base |", "|---|---|---|---|---|---|---|"]
    by_name = {(r["method"], r["pair"], _size(r)): r for r in records}
    for r in part_f:
      ref = by_name.get((r.get("base"), r["pair"], _size(r)))
      ratio = style_ratio(r, ref) if ref else float("nan")
      lines.append(f"| {r['method']} | {r['pair']} | {_size(r)} | {r['steps']} | "
                   f"{_mean(r['judges']['content/lpips_alex']):.3f} | "
                   f"{_mean(r['judges']['content/lpips_vgg']):.3f} | {ratio:.3f} |")
  seeds = [r for r in records if "rank" in r]
  for r in seeds:
    lines += ["", f"{r['method']} on {r['pair']}: {len(r['judges']['content/lpips_alex'])} "
              f"seeds, {r['steps']} steps; order by lpips {r['rank']['lpips']}"
              + (f", by style {r['rank']['style']}" if "style" in r["rank"] else "")
              + "; content/lpips_alex " + ", ".join(
                  f"{v:.3f}" for v in r["judges"]["content/lpips_alex"])]
  return "\n".join(lines) + "\n"


_COLORS = {"gram": (31, 119, 180), "mean_cov": (214, 39, 40),
           "sliced_wasserstein": (44, 160, 44), "histogram": (148, 103, 189)}


def frontier_points(records: Sequence[dict]) -> dict[tuple[str, str], list[tuple]]:
  """{(style loss, pair): [(factor, content/lpips_alex, mean style ratio)] by factor}:
  the VGG-19 runs of the sweep (and their 1x runs of group a)."""
  base = {r["pair"]: r for r in records if r["method"] == BASELINE}
  sweep_pairs = {r["pair"] for r in records if r.get("group") == "c"}
  lines: dict[tuple[str, str], list[tuple]] = {}
  for r in records:
    if (r["pair"] not in sweep_pairs or r["pair"] not in base or r.get("factor") is None
        or r.get("network") != "vgg19" or r.get("group") not in ("a", "c")
        or "content/lpips_alex" not in r["judges"]):
      continue
    lines.setdefault((r["style_loss"], r["pair"]), []).append(
        (r["factor"], _mean(r["judges"]["content/lpips_alex"]), style_ratio(r, base[r["pair"]])))
  return {k: sorted(v) for k, v in lines.items()}


def frontier_plot(records: Sequence[dict], path: str | os.PathLike) -> None:
  """content/lpips_alex (x) against the mean style ratio to gram_vgg19 (y, log scale),
  one polyline per loss and pair, drawn with PIL."""
  lines = {k: [p for p in v if np.isfinite(p[2]) and p[2] > 0]
           for k, v in frontier_points(records).items()}
  lines = {k: v for k, v in lines.items() if v}
  w, h, left, right, top, bottom = 900, 620, 80, 250, 40, 60
  img = Image.new("RGB", (w, h), "white")
  draw = ImageDraw.Draw(img)
  xs = [p[1] for v in lines.values() for p in v] or [0.0, 1.0]
  ys = [math.log10(p[2]) for v in lines.values() for p in v] or [0.0, 1.0]
  x0, x1 = min(xs), max(xs)
  y0, y1 = min(ys), max(ys)
  pad_x, pad_y = max(0.05 * (x1 - x0), 1e-3), max(0.05 * (y1 - y0), 1e-2)
  x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
  px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)
  py = lambda y: h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)
  draw.rectangle([left, top, w - right, h - bottom], outline="black")
  for i in range(6):
    xv = x0 + (x1 - x0) * i / 5
    draw.line([px(xv), h - bottom, px(xv), h - bottom + 5], fill="black")
    draw.text((px(xv) - 14, h - bottom + 8), f"{xv:.3f}", fill="black")
    yv = y0 + (y1 - y0) * i / 5
    draw.line([left - 5, py(yv), left, py(yv)], fill="black")
    draw.text((left - 48, py(yv) - 6), f"{10 ** yv:.3g}", fill="black")
  draw.text(((left + w - right) / 2 - 150, h - 25),
            "content/lpips_alex (lower: closer to the photo)", fill="black")
  draw.text((5, 10), "mean style judge / gram_vgg19's (log scale; lower: closer to the "
            "style); points: style weight x0.1 ... x10", fill="black")
  pairs = sorted({k[1] for k in lines})
  for (loss, pair), points in sorted(lines.items()):
    color = _COLORS.get(loss, (0, 0, 0))
    xy = [(px(p[1]), py(math.log10(p[2]))) for p in points]
    if len(xy) > 1:
      draw.line(xy, fill=color, width=2 if pairs.index(pair) == 0 else 1)
    for (factor, _, _), (x, y) in zip(points, xy):
      r = 4
      if pairs.index(pair) == 0:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
      else:
        draw.rectangle([x - r, y - r, x + r, y + r], outline=color, width=2)
      draw.text((x + 5, y - 12), f"x{factor:g}", fill=color)
  ly = top
  for loss in LOSSES:
    if any(k[0] == loss for k in lines):
      draw.line([w - right + 15, ly + 6, w - right + 40, ly + 6], fill=_COLORS[loss], width=3)
      draw.text((w - right + 45, ly), loss, fill="black")
      ly += 18
  for i, pair in enumerate(pairs):
    x, y, r = w - right + 27, ly + 6, 4
    if i == 0:
      draw.ellipse([x - r, y - r, x + r, y + r], fill="gray")
    else:
      draw.rectangle([x - r, y - r, x + r, y + r], outline="gray", width=2)
    draw.text((w - right + 45, ly), pair, fill="black")
    ly += 18
  with atomic_path(path) as tmp, open(tmp, "wb") as f:
    img.save(f, format="PNG")


def contact_sheets(records: Sequence[dict], runs_dir: pathlib.Path, out_dir: pathlib.Path,
                   size: int | None = None) -> list[pathlib.Path]:
  """quality_sheet_PAIR.jpg: the content, the style and each method's output on the pair."""
  written = []
  for pair in dict.fromkeys(r["pair"] for r in records):
    rows = [r for r in records if r["pair"] == pair and (runs_dir / r["image"]).is_file()]
    rows = [r for r in rows if _size(r) == _size(rows[0])] if rows else rows
    if not rows:
      continue
    outs = [np.asarray(Image.open(runs_dir / r["image"]).convert("RGB"), np.float32) / 255
            for r in rows]
    h, w = outs[0].shape[:2]
    s = rows[0]["settings"]
    extra = []
    for label, p in (("content", s["content"]), ("style", s["style"])):
      try:
        im = images_lib.load_image(p, max(h, w))
        extra.append((label, images_lib.resize_to(im, *images_lib.scaled_shape(
            *im.shape[:2], max(h, w)))))
      except Exception:  # pylint: disable=broad-except
        pass
    labels = [l for l, _ in extra] + [r["method"] for r in rows]
    sheet = images_lib.contact_sheet([im for _, im in extra] + outs, labels)
    path = out_dir / f"quality_sheet_{pair}.jpg"
    written.append(images_lib.save_jpeg_under(sheet, path))
  return written


def write_report(records: Sequence[dict], out_dir: str | os.PathLike, *,
                 runs_dir: str | os.PathLike | None = None, time_limit: float | None = None,
                 size: int | None = None) -> dict[str, pathlib.Path]:
  """quality.json, quality.md, quality_frontier.png and quality_sheet_PAIR.jpg."""
  out_dir = pathlib.Path(out_dir)
  runs_dir = pathlib.Path(runs_dir) if runs_dir else out_dir / "quality"
  paths = {"json": out_dir / "quality.json", "md": out_dir / "quality.md",
           "frontier": out_dir / "quality_frontier.png"}
  _write_json({"judges": list(metrics.JUDGES), "baseline": BASELINE,
               "calibrated": {f"{l}/{n}": b for (l, n), b in CALIBRATED.items()},
               "ratios": ratios(records), "runs": list(records)}, paths["json"])
  with atomic_path(paths["md"]) as tmp:
    pathlib.Path(tmp).write_text(markdown(records, time_limit=time_limit, size=size))
  frontier_plot(records, paths["frontier"])
  for i, p in enumerate(contact_sheets(records, runs_dir, out_dir, size)):
    paths[f"sheet{i}"] = p
  return paths


# --- Calibration -------------------------------------------------------------------------


def loss_scales(content: np.ndarray, style: np.ndarray, loss: str, network: str,
                weights: Any) -> dict[str, float]:
  """Forward passes only: the unweighted style loss at the content photo ("style_start")
  and the content loss of the style image (resized to the photo) against the photo
  ("content_scale", the content term's scale on that network)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import objective  # pylint: disable=import-outside-toplevel
  default_content, default_style = features.FEATURE_NETWORKS[network].default_layers
  config = objective.ObjectiveConfig(
      network=network, content_layers=default_content, style_layers=default_style,
      style_loss=loss, content_normalization="mean")
  targets = objective.compute_targets(content, [style], config, weights, kernels="xla")
  fn = jax.jit(objective.make_loss_fn(config, weights, kernels="xla"))
  params = features.network_variables(weights, "xla")
  at_photo = fn(jnp.asarray(content), targets, params)[1]
  other = images_lib.resize_to(style, *content.shape[:2])
  at_style = fn(jnp.asarray(other), targets, params)[1]
  return {"style_start": float(at_photo["style"]), "content_scale": float(at_style["content"])}


def calibrate(pair: Pair, *, size: int, time_limit: float = 15.0,
              stylize_fn: Callable[..., Any] = default_stylize,
              weights: Mapping[str, Any] | None = None) -> dict[str, dict]:
  """The betas of CALIBRATED, measured: gram/vgg19 keeps its value (the library's
  default, chosen by eye); every other (loss, network) gets the beta whose weighted
  style term at the content photo, relative to its network's content scale
  (`loss_scales`), is the reference's:
    beta = beta_ref (S0_ref / K_ref) / (S0 / K),
  rounded to one digit. Then one `time_limit` run each checks that beta * style /
  content at its end is of the order of 1 ("ratio")."""
  from jaxstyle import features  # pylint: disable=import-outside-toplevel
  weights = dict(weights or {})
  content = images_lib.load_image(pair.content_path, size)
  style = images_lib.load_image(pair.style_path, size)
  ref_beta = CALIBRATED[("gram", "vgg19")]
  out, ref = {}, None
  for (loss, network), _ in CALIBRATED.items():
    if network not in weights:
      weights[network] = features.load_weights(network, log=logging.info)
    scales = loss_scales(content, style, loss, network, weights[network])
    if ref is None:
      ref = scales
    beta = ref_beta * (ref["style_start"] / ref["content_scale"]) / (
        scales["style_start"] / scales["content_scale"])
    beta = float(f"{beta:.1g}")
    kwargs = dict(method_kwargs(loss, network), style_weight=beta, log_every=0)
    result = stylize_fn(content, style, weights=weights[network], time_limit=time_limit,
                        **kwargs)
    c = float(np.asarray(result.history["content"])[-1].mean())
    s = float(np.asarray(result.history["style"])[-1].mean())
    out[f"{loss}/{network}"] = dict(scales, beta=beta, ratio=beta * s / max(c, 1e-30),
                                    content=c, style=s, steps=int(result.steps))
    logging.info("calibrate %s/%s: %s", loss, network, out[f"{loss}/{network}"])
  return out


def main(argv):
  del argv
  out_root = pathlib.Path(FLAGS.output_dir)
  runs_dir = out_root / "quality"
  pairs = make_pairs(FLAGS.shared)
  missing = sorted({p for pair in pairs.values() for p in (pair.content_path, pair.style_path)
                    if not pathlib.Path(p).is_file()})
  if missing:
    raise app.UsageError(f"missing image(s): {', '.join(missing)} (see --shared)")
  if FLAGS.calibrate:
    result = calibrate(pairs[SWEEP_PAIRS[0]], size=FLAGS.size)
    _write_json(result, out_root / "quality_calibration.json")
    for name, r in result.items():
      print(f"{name}: beta {r['beta']:g}, style at the photo {r['style_start']:.4g}, "
            f"content scale {r['content_scale']:.4g}; after {r['steps']} steps "
            f"beta*style/content {r['ratio']:.3g}")
    return
  runs = everything = plan(pairs)
  if FLAGS.only:
    try:
      pattern = re.compile(FLAGS.only)
    except re.error as e:
      raise app.UsageError(f"--only={FLAGS.only!r} is not a regex: {e}")
    runs = [r for r in runs if pattern.search(r.name)]
  if FLAGS.dry_run:
    for r in runs:
      done = is_done(r, runs_dir, settings_of(r, size=FLAGS.size, time_limit=FLAGS.time_limit))
      print(f"{r.group} {r.name:55s} {'done' if done else 'to run'}  "
            f"style_weight={r.kwargs.get('style_weight')}")
    print(f"{len(runs)} runs")
    return
  if not FLAGS.report:
    run_all(runs, out_dir=runs_dir, size=FLAGS.size, time_limit=FLAGS.time_limit)
  # The report covers every run of the grid that is done, not only --only's.
  records = [is_done(r, runs_dir, settings_of(r, size=FLAGS.size,
                                              time_limit=FLAGS.time_limit)) for r in everything]
  records = [r for r in records if r is not None]
  if not records:
    logging.warning("no results to report")
    return
  paths = write_report(records, out_root, runs_dir=runs_dir, time_limit=FLAGS.time_limit,
                       size=FLAGS.size)
  logging.info("wrote %s", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
  app.run(main)
