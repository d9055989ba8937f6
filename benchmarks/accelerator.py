r"""The accelerator benchmark: one GPU, one call, every section capped in time.

  bash benchmarks/accelerator.sh                 # on the device machine: installs, converts
                                                 # the weights, runs this (<= 5 min)
  python -m benchmarks.accelerator --weights=/tmp/vgg19.npz --output_dir=accelerator_out
  python -m benchmarks.accelerator --summarize_trace=accelerator_out/trace.tar.gz

Sections (--sections), in this order, each with its own time cap (--caps) inside one
global budget (--budget_s):
  gatys           512 px x 500 L-BFGS steps for each --gatys_runs (kernels:precision):
                  wall time, compile time apart, steady ms/step, final loss, and a warm
                  repeat (compiled programs reused); goal: <= --gatys_goal_s (2 s) for the
                  steps in tensorfloat32 or bfloat16.
  seeds           1/4/8 seeds optimized together (fewer steps): ms/step each; goal: the
                  most seeds in <= --seed_goal_ratio (3x) the time per step of one.
  steps_per_call  steps per device call 1 vs the backend's default: ms/step each.
  memory          peak device memory at 1024 and 2048 px, a few steps each, in a child
                  process (so the peak is its own).
  fast            the feed-forward network (a committed model): images/s at 1024 px,
                  batch 4, after a warm-up; goal >= 30 images/s.
  arbitrary       the arbitrary-style networks (Ghiasi et al.) with --arbitrary_weights
                  (converted beforehand: the device machine cannot fetch them; the
                  section is "skipped" when the file is absent): images/s of the
                  transformer at 1024 px (4:3) with batch 1 and 4, and ms of the style
                  predictor at 256x256, for each --arbitrary_precisions.
  trace           a jax.profiler trace of a few steps at 512 px (compiled first), packed
                  as OUTPUT_DIR/trace.tar.gz, with its top XLA ops by time.
Results go to OUTPUT_DIR/results.json, rewritten atomically after every section
(sections not reached say "pending"); a section is "ok", "cut" (over its cap: the rest
of its runs skipped, or a run stopped at the deadline), "failed" (the error is kept) or
"skipped" (the budget was spent before it started). A section always makes its first
run if the budget allows; its cap is checked between runs and every ~50 steps inside
(a `stylize` callback), and a SIGALRM watchdog interrupts one stuck --watchdog_grace_s
past it. XLA_PYTHON_CLIENT_PREALLOCATE defaults to false here, so that each process
holds only the device memory it uses and the memory section's child finds the rest.
Images are synthetic smooth random ones unless --images=paper (Tübingen / The Starry
Night from ../shared/images).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

import numpy as np
from absl import app, flags, logging

from benchmarks import machine
from jaxstyle.errors import UserError

SECTIONS = ("gatys", "seeds", "steps_per_call", "memory", "fast", "arbitrary", "trace")
DEFAULT_CAPS = ("gatys=100,seeds=40,steps_per_call=25,memory=55,fast=20,arbitrary=20,"
                "trace=20")  # 280 s: the default --budget_s.
ROOT = pathlib.Path(__file__).resolve().parents[1]
_EARLIER_FLAGS = set(flags.FLAGS)

flags.DEFINE_string("output_dir", "accelerator_out", "Where results.json and trace.tar.gz go.")
flags.DEFINE_string("weights", None, "VGG-19 weights .npz (default: jaxstyle's default file).")
flags.DEFINE_enum("images", "synthetic", ["synthetic", "paper", "auto"],
                  "synthetic: smooth random content, striped random style; paper: --content "
                  "and --style; auto: paper if both files exist, else synthetic.")
flags.DEFINE_string("content", "../shared/images/tubingen.jpg", "Content image (--images=paper).")
flags.DEFINE_string("style", "../shared/images/starry_night.jpg", "Style image (--images=paper).")
flags.DEFINE_list("sections", list(SECTIONS), "Sections to run, in this order.")
flags.DEFINE_list("caps", DEFAULT_CAPS.split(","), "Seconds per section, NAME=SECONDS "
                  f"(unnamed sections keep their default: {DEFAULT_CAPS}).")
flags.DEFINE_float("budget_s", 280.0, "No section starts, and runs stop, after this many "
                   "seconds from the start.")
flags.DEFINE_float("watchdog_grace_s", 20.0, "A section still running this long past its "
                   "deadline (e.g. stuck compiling) is interrupted by SIGALRM.")
flags.DEFINE_integer("history", 100, "L-BFGS memory (benchmarks/README.md's objective).")
flags.DEFINE_enum("precision", "tensorfloat32", ["float32", "tensorfloat32", "bfloat16"],
                  "Precision of the seeds, steps_per_call, memory and trace sections.")
flags.DEFINE_enum("kernels", "auto", ["auto", "xla", "cpu"],
                  "Kernels of the seeds, steps_per_call, memory, fast and trace sections.")
flags.DEFINE_list("gatys_runs", ["xla:tensorfloat32", "xla:bfloat16", "xla:float32",
                                 "cpu:float32"], "gatys: KERNELS:PRECISION runs, in order.")
flags.DEFINE_integer("gatys_size", 512, "gatys: longer side, px.")
flags.DEFINE_integer("gatys_steps", 500, "gatys: L-BFGS steps.")
flags.DEFINE_float("gatys_goal_s", 2.0, "gatys: goal for the steps (compilation excluded).")
flags.DEFINE_bool("gatys_warm_repeat", True, "gatys: run each configuration again with its "
                  "programs compiled (the goal uses this time).")
flags.DEFINE_list("seed_counts", ["1", "4", "8"], "seeds: seeds optimized together.")
flags.DEFINE_integer("seed_size", 512, "seeds: longer side, px.")
flags.DEFINE_integer("seed_steps", 50, "seeds: steps.")
flags.DEFINE_float("seed_goal_ratio", 3.0, "seeds: goal for ms/step(most seeds) / ms/step(1).")
flags.DEFINE_integer("spc_size", 512, "steps_per_call: longer side, px.")
flags.DEFINE_integer("spc_steps", 100, "steps_per_call: steps.")
flags.DEFINE_list("memory_sizes", ["1024", "2048"], "memory: longer sides, px (run ascending).")
flags.DEFINE_integer("memory_steps", 3, "memory: steps at each size.")
flags.DEFINE_string("fast_model", str(ROOT / "models" / "starry_night.msgpack"),
                    "fast: a model file (jaxstyle.johnson.load_model).")
flags.DEFINE_integer("fast_size", 1024, "fast: square image side, px.")
flags.DEFINE_integer("fast_batch", 4, "fast: images per call.")
flags.DEFINE_integer("fast_repeats", 20, "fast: timed calls after the warm-up.")
flags.DEFINE_list("fast_precisions", ["float32", "tensorfloat32", "bfloat16"],
                  "fast: precisions, in order.")
flags.DEFINE_float("fast_goal_images_per_s", 30.0, "fast: goal.")
flags.DEFINE_string("arbitrary_weights", None, "arbitrary: the converted weights .npz "
                    "(`python -m jaxstyle.weights fetch-arbitrary`, made elsewhere; default: "
                    "jaxstyle's default file); the section is skipped if it is absent.")
flags.DEFINE_integer("arbitrary_size", 1024, "arbitrary: the transformer's longer side, px "
                     "(4:3 landscape).")
flags.DEFINE_list("arbitrary_batches", ["1", "4"], "arbitrary: transformer batch sizes.")
flags.DEFINE_integer("arbitrary_style_size", 256, "arbitrary: the predictor's square input, "
                     "px.")
flags.DEFINE_integer("arbitrary_repeats", 20, "arbitrary: timed calls after the warm-up.")
flags.DEFINE_list("arbitrary_precisions", ["float32", "bfloat16"],
                  "arbitrary: precisions, in order.")
flags.DEFINE_integer("trace_size", 512, "trace: longer side, px.")
flags.DEFINE_integer("trace_steps", 10, "trace: steps traced (after a compiling run).")
flags.DEFINE_integer("trace_top", 25, "trace: ops listed in the summary.")
flags.DEFINE_bool("require_accelerator", False, "Stop at once (exit 1) if JAX's backend "
                  "is the CPU (accelerator.sh sets it: no device time spent on a CPU run).")
flags.DEFINE_string("summarize_trace", None, "Only summarize a trace (a directory that "
                    "jax.profiler wrote, or the trace.tar.gz) and print it as JSON.")
flags.DEFINE_string("memory_child_output", None, "Internal: run the memory section's sizes "
                    "in this process and write them to this file.")
FLAGS = flags.FLAGS
_OWN_FLAGS = sorted(set(FLAGS) - _EARLIER_FLAGS)  # Recorded in results.json.

# What the memory section's child process is given.
_CHILD_FLAGS = ("weights", "images", "content", "style", "memory_sizes", "memory_steps",
                "kernels", "precision", "history")


class SectionTimeout(BaseException):
  """Raised by the watchdog in a section still running past its deadline (a
  BaseException, so that the sections' `except Exception` let it through)."""


def _clean(value):
  """JSON-safe: non-finite floats -> None, numpy scalars -> Python."""
  if isinstance(value, dict):
    return {str(k): _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  if isinstance(value, (np.floating, float)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.bool_):
    return bool(value)
  return value


def write_json(path: str | os.PathLike, data: dict) -> None:
  from jaxstyle._atomic import atomic_path  # pylint: disable=import-outside-toplevel
  with atomic_path(path) as tmp:
    pathlib.Path(tmp).write_text(json.dumps(_clean(data), indent=1))


def parse_caps(entries) -> dict[str, float]:
  caps = {}
  for entry in list(DEFAULT_CAPS.split(",")) + list(entries):
    name, sep, seconds = entry.partition("=")
    if not sep or name not in SECTIONS:
      raise app.UsageError(f"--caps entries are NAME=SECONDS with NAME in {SECTIONS}, "
                           f"got {entry!r}")
    caps[name] = float(seconds)
  return caps


class Section:
  """One section's clock and what it has measured so far (kept if it is cut)."""

  def __init__(self, name: str, cap_s: float, budget_end: float):
    self.name, self.cap_s = name, cap_s
    self.start = time.perf_counter()
    self.deadline = min(self.start + cap_s, budget_end)
    self.runs: list[dict] = []
    self.info: dict = {}

  def over(self) -> bool:
    return time.perf_counter() >= self.deadline

  def remaining(self) -> float:
    return self.deadline - time.perf_counter()

  def stop_if_over(self, step, images):
    """A `stylize` callback: stops the optimization (as Ctrl-C does) at the deadline."""
    del step, images
    if self.over():
      raise KeyboardInterrupt

  def each(self, items, describe):
    """Yields the items to run: the first always, the others while within the cap (the
    rest are recorded as skipped)."""
    for i, item in enumerate(items):
      if i > 0 and self.over():
        self.runs.append(dict(describe(item), status="skipped",
                              reason=f"over the section's {self.cap_s:g} s cap or the budget"))
        continue
      yield item

  def attempt(self, describe: dict, fn) -> dict | None:
    """Runs fn() -> dict; records it (or its failure) as a run."""
    try:
      run = dict(describe, **fn())
    except Exception as e:  # pylint: disable=broad-except
      logging.exception("%s %s failed", self.name, describe)
      run = dict(describe, status="failed", error=f"{type(e).__name__}: {e}"[:2000])
    self.runs.append(run)
    return run


class Inputs:
  """The weights and the content/style images at each size, made once."""

  def __init__(self):
    from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
    if FLAGS.weights and not os.path.isfile(FLAGS.weights):
      raise UserError(f"--weights={FLAGS.weights} does not exist")
    t0 = time.perf_counter()
    self.weights = (weights_lib.load(FLAGS.weights) if FLAGS.weights
                    else weights_lib.load_default())
    self.weights_s = time.perf_counter() - t0
    paper = os.path.isfile(FLAGS.content) and os.path.isfile(FLAGS.style)
    self.source = ("paper" if FLAGS.images == "paper" or FLAGS.images == "auto" and paper
                   else "synthetic")
    self._cache = {}

  def at(self, size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in self._cache:
      from jaxstyle import images  # pylint: disable=import-outside-toplevel
      if self.source == "paper":
        self._cache[size] = (images.load_image(FLAGS.content, size),
                             images.load_image(FLAGS.style, size))
      else:
        h, w = images.scaled_shape(3, 4, size)  # 4:3 landscape, like Tübingen.
        self._cache[size] = (synthetic_image(h, w, seed=0, strokes=False),
                             synthetic_image(h, w, seed=1, strokes=True))
    return self._cache[size]

  def describe(self) -> dict:
    out = {"source": self.source, "weights": FLAGS.weights or "default",
           "weights_widths": list(self.weights.widths), "weights_load_s": self.weights_s}
    if self.source == "paper":
      out.update(content=FLAGS.content, style=FLAGS.style)
    return out


def synthetic_image(height: int, width: int, *, seed: int, strokes: bool) -> np.ndarray:
  """A smooth random RGB image in [0, 1] (random colors upsampled); with `strokes`,
  plus oriented sinusoidal stripes, a texture for the style to carry."""
  from jaxstyle.images import resize_to  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(size=(max(2, height // 48), max(2, width // 48), 3)).astype(np.float32)
  image = resize_to(coarse, height, width)
  if strokes:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    for c in range(3):
      angle, freq = rng.uniform(0, np.pi), rng.uniform(20, 60)
      phase = freq * (np.cos(angle) * xx + np.sin(angle) * yy)
      image[..., c] += 0.25 * np.sin(2 * np.pi * phase + rng.uniform(0, 2 * np.pi))
  return np.clip(image, 0, 1).astype(np.float32)


# --- Timing one optimization --------------------------------------------------------------


def timing(times) -> dict:
  """From a stylize history's "time" [steps + 1] (seconds since the start; the records of
  one device call share its end time): the first call, its estimated compilation, and
  the steady ms/step of the later calls (None if there were none)."""
  t = np.asarray(times, np.float64)
  done = len(t) - 1
  first_call = int(np.nonzero(t == t[0])[0][-1])  # The first call's last record.
  out = {"first_call_s": float(t[0]), "first_call_steps": first_call + 1,
         "optimize_s": float(t[-1]), "steady_ms_per_step": None, "compile_s": None}
  if done > first_call:
    steady = (t[-1] - t[first_call]) / (done - first_call)
    out["steady_ms_per_step"] = 1000 * steady
    out["compile_s"] = max(0.0, float(t[0] - steady * (first_call + 1)))
  return out


def stylize_run(inputs: Inputs, section: Section, *, size: int, steps: int, kernels: str,
                precision: str, num_seeds: int = 1, steps_per_call: int | None = None) -> dict:
  """One `jaxstyle.stylize` call, cut at the section's deadline; its timings and loss."""
  import jaxstyle  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import optimize  # pylint: disable=import-outside-toplevel
  content, style = inputs.at(size)
  per_call = steps_per_call or optimize.default_steps_per_call()
  t0 = time.perf_counter()
  result = jaxstyle.stylize(
      content, style, weights=inputs.weights, num_steps=steps, num_seeds=num_seeds,
      init="noise", scales=1,  # One size, from white noise: the step the paper takes.
      kernels=kernels, precision=precision, steps_per_call=steps_per_call,
      lbfgs_history=FLAGS.history, log_every=0, callback=section.stop_if_over,
      callback_every=per_call * max(1, 50 // per_call))
  wall = time.perf_counter() - t0
  out = {"image": [int(content.shape[1]), int(content.shape[0])], "steps": result.steps,
         "steps_per_call": result.run.get("steps_per_call"),
         "kernels_resolved": result.run.get("kernels"), "wall_s": wall,
         "status": "cut" if result.interrupted else "ok"}
  out.update(timing(result.history["time"]))
  out["setup_s"] = wall - out["optimize_s"]  # Checks, targets (compiled), start images.
  out["initial_loss"] = float(np.mean(result.history["total"][0]))
  out["final_loss"] = float(np.mean(result.history["total"][-1]))
  if result.interrupted:
    out["reason"] = f"stopped at the section's deadline after {result.steps} steps"
  elif result.stopped:
    out["stopped"] = result.stopped
  return out


def _spec(entry: str) -> tuple[str, str]:
  kernels, sep, precision = entry.partition(":")
  if not sep:
    raise app.UsageError(f"--gatys_runs entries are KERNELS:PRECISION, got {entry!r}")
  return kernels, precision


# --- Sections -------------------------------------------------------------------------------


def section_gatys(inputs: Inputs, sec: Section) -> None:
  for entry in sec.each(FLAGS.gatys_runs, lambda e: dict(zip(("kernels", "precision"),
                                                              _spec(e)))):
    kernels, precision = _spec(entry)
    settings = dict(size=FLAGS.gatys_size, steps=FLAGS.gatys_steps, kernels=kernels,
                    precision=precision)
    run = sec.attempt({"kernels": kernels, "precision": precision},
                      lambda s=settings: stylize_run(inputs, sec, **s))
    if FLAGS.gatys_warm_repeat and run.get("status") == "ok" and not sec.over():
      try:
        warm = stylize_run(inputs, sec, **settings)
        run["warm"] = {k: warm[k] for k in ("status", "steps", "wall_s", "optimize_s",
                                            "steady_ms_per_step", "final_loss")}
      except Exception as e:  # pylint: disable=broad-except
        run["warm"] = {"status": "failed", "error": f"{type(e).__name__}: {e}"[:2000]}
    _log_run(sec, run)


def summarize_gatys(sec: Section) -> None:
  goal = FLAGS.gatys_goal_s
  reference = next((r for r in sec.runs if r.get("kernels") == "xla" and
                    r.get("precision") == "float32" and r.get("final_loss")), None)
  for r in sec.runs:
    if r.get("status") not in ("ok", "cut"):
      continue
    warm = r.get("warm") or {}
    if warm.get("status") == "ok":
      r["steps_s"], r["steps_s_measure"] = warm["optimize_s"], "warm repeat, all steps"
    elif r.get("steady_ms_per_step") is not None:
      r["steps_s"] = r["steady_ms_per_step"] * FLAGS.gatys_steps / 1000
      r["steps_s_measure"] = "steady ms/step x steps (first run)"
    if "steps_s" in r and r.get("steps") == FLAGS.gatys_steps:
      r["goal_met"] = bool(r["steps_s"] <= goal)
    if reference is not None and r.get("final_loss"):
      r["loss_vs_xla_float32"] = r["final_loss"] / reference["final_loss"]
  reduced = [r.get("goal_met") for r in sec.runs if r.get("kernels") == "xla" and
             r.get("precision") in ("tensorfloat32", "bfloat16")]
  sec.info["goal"] = {
      "what": f"{FLAGS.gatys_steps} steps at {FLAGS.gatys_size} px in <= {goal:g} s "
              "(compilation excluded), tensorfloat32 or bfloat16",
      "met": any(reduced) if any(m is not None for m in reduced) else None}


def section_seeds(inputs: Inputs, sec: Section) -> None:
  for n in sec.each([int(n) for n in FLAGS.seed_counts], lambda n: {"num_seeds": n}):
    run = sec.attempt({"num_seeds": n}, lambda n=n: stylize_run(
        inputs, sec, size=FLAGS.seed_size, steps=FLAGS.seed_steps, kernels=FLAGS.kernels,
        precision=FLAGS.precision, num_seeds=n))
    _log_run(sec, run)


def summarize_seeds(sec: Section) -> None:
  one = next((r.get("steady_ms_per_step") for r in sec.runs if r.get("num_seeds") == 1), None)
  for r in sec.runs:
    ms = r.get("steady_ms_per_step")
    if ms:
      r["images_per_s_at_500_steps"] = r["num_seeds"] / (ms / 1000 * 500)
      if one:
        r["time_ratio_vs_1_seed"] = ms / one
  measured = [r for r in sec.runs if r.get("time_ratio_vs_1_seed") is not None]
  most = max(measured, key=lambda r: r["num_seeds"], default=None)
  sec.info.update(precision=FLAGS.precision, kernels=FLAGS.kernels, goal={
      "what": f"{max(int(n) for n in FLAGS.seed_counts)} seeds in <= "
              f"{FLAGS.seed_goal_ratio:g}x the time per step of one",
      "ratio": most["time_ratio_vs_1_seed"] if most else None,
      "seeds": most["num_seeds"] if most else None,
      "met": (bool(most["time_ratio_vs_1_seed"] <= FLAGS.seed_goal_ratio)
              if most and most["num_seeds"] == max(int(n) for n in FLAGS.seed_counts)
              else None)})


def section_steps_per_call(inputs: Inputs, sec: Section) -> None:
  from jaxstyle.gatys import optimize  # pylint: disable=import-outside-toplevel
  for spc in sec.each([1, None], lambda s: {"steps_per_call_setting": s or "auto"}):
    run = sec.attempt({"steps_per_call_setting": spc or "auto"}, lambda spc=spc: stylize_run(
        inputs, sec, size=FLAGS.spc_size, steps=FLAGS.spc_steps, kernels=FLAGS.kernels,
        precision=FLAGS.precision, steps_per_call=spc))
    _log_run(sec, run)
  sec.info["default_steps_per_call"] = optimize.default_steps_per_call()


def summarize_steps_per_call(sec: Section) -> None:
  ms = {r["steps_per_call_setting"]: r.get("steady_ms_per_step") for r in sec.runs}
  sec.info.update(precision=FLAGS.precision, kernels=FLAGS.kernels)
  if ms.get(1) and ms.get("auto"):
    sec.info["auto_over_1"] = ms["auto"] / ms[1]


def _device_memory() -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  try:
    stats = jax.devices()[0].memory_stats() or {}
  except Exception:  # pylint: disable=broad-except  # Not every backend has them.
    stats = {}
  return {"peak_bytes_in_use": stats.get("peak_bytes_in_use"),
          "bytes_in_use": stats.get("bytes_in_use"), "bytes_limit": stats.get("bytes_limit")}


def _memory_child() -> None:
  """The memory section's sizes, ascending, in this (fresh) process: after each run the
  device's peak is that run's (a larger one comes later). Writes after every size."""
  import jaxstyle  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import memory  # pylint: disable=import-outside-toplevel
  budget_end = time.perf_counter() + FLAGS.budget_s
  sec = Section("memory", parse_caps(FLAGS.caps)["memory"], budget_end)
  inputs = Inputs()
  before = _device_memory()
  sec.info["before"] = before
  for size in sec.each(sorted(int(s) for s in FLAGS.memory_sizes), lambda s: {"size": s}):
    def measure(size=size):
      run = stylize_run(inputs, sec, size=size, steps=FLAGS.memory_steps,
                        kernels=FLAGS.kernels, precision=FLAGS.precision)
      run.update(_device_memory())
      run["peak_gib"] = (run["peak_bytes_in_use"] / 2**30 if run["peak_bytes_in_use"]
                         else None)
      run["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
      w, h = run["image"]
      try:
        run["estimate_bytes"] = memory.estimate_memory_bytes(
            h, w, num_seeds=1, layers=jaxstyle.ObjectiveConfig().all_layers, method="lbfgs",
            history_size=FLAGS.history, widths=inputs.weights.widths, kernels=FLAGS.kernels)
      except Exception:  # pylint: disable=broad-except
        run["estimate_bytes"] = None
      return run
    run = sec.attempt({"size": size}, measure)
    _log_run(sec, run)
    write_json(FLAGS.memory_child_output, {"runs": sec.runs, "info": sec.info})
  write_json(FLAGS.memory_child_output, {"runs": sec.runs, "info": sec.info, "done": True})


def section_memory(inputs: Inputs, sec: Section) -> None:
  del inputs
  with tempfile.TemporaryDirectory(prefix="jaxstyle-memory-") as tmp:
    out = pathlib.Path(tmp) / "memory.json"
    remaining = max(1.0, sec.remaining())
    command = [sys.executable, "-m", "benchmarks.accelerator", f"--memory_child_output={out}",
               f"--caps=memory={remaining:.1f}", f"--budget_s={remaining:.1f}"]
    command += [FLAGS[name].serialize() for name in _CHILD_FLAGS
                if FLAGS[name].value is not None]
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    sec.info["child"] = "a fresh process; XLA_PYTHON_CLIENT_PREALLOCATE=false"
    status, error = None, None
    try:
      done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT,
                            env=env, timeout=remaining + 10)
      if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        status = "failed"
        error = f"child exited {done.returncode}: {lines[-1] if lines else 'no output'}"
    except subprocess.TimeoutExpired:
      status, error = "cut", f"child killed at the section's deadline ({remaining:.0f} s)"
    child = json.loads(out.read_text()) if out.is_file() else {"runs": []}
  sec.runs.extend(child["runs"])
  sec.info.update(child.get("info", {}))
  reached = {r["size"] for r in sec.runs}
  for size in sorted(int(s) for s in FLAGS.memory_sizes):
    if size not in reached:  # The child was killed or crashed before it.
      sec.runs.append({"size": size, "status": status or "failed",
                       "error": error or "the child did not report it"})
  if error:
    sec.info["child_error"] = error


def summarize_memory(sec: Section) -> None:
  sec.info.update(precision=FLAGS.precision, kernels=FLAGS.kernels, steps=FLAGS.memory_steps)


def section_fast(inputs: Inputs, sec: Section) -> None:
  del inputs
  import jax  # pylint: disable=import-outside-toplevel
  from jaxstyle import kernels as kernels_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import inference  # pylint: disable=import-outside-toplevel
  model = inference.load_model(FLAGS.fast_model)
  sec.info.update(model=FLAGS.fast_model, size=FLAGS.fast_size, batch=FLAGS.fast_batch,
                  kernels=FLAGS.kernels)
  x = np.random.default_rng(0).uniform(
      size=(FLAGS.fast_batch, FLAGS.fast_size, FLAGS.fast_size, 3)).astype(np.float32)
  x_device, variables = jax.device_put(x), jax.device_put(model.variables)
  for precision in sec.each(FLAGS.fast_precisions, lambda p: {"precision": p}):
    def measure(precision=precision):
      t0 = time.perf_counter()
      inference.stylize_fast(model, x, kernels=FLAGS.kernels, precision=precision)
      first = time.perf_counter() - t0  # Compiles; host arrays in and out.
      # The program stylize_fast runs, on arrays already on the device.
      forward = inference._forward(  # pylint: disable=protected-access
          model.config, kernels_lib.resolve(FLAGS.kernels), precision)
      times = []
      while len(times) < FLAGS.fast_repeats and not (times and sec.over()):
        t0 = time.perf_counter()
        forward(variables, x_device).block_until_ready()
        times.append(time.perf_counter() - t0)
      host = []
      while len(host) < 3 and not (host and sec.over()):
        t0 = time.perf_counter()
        inference.stylize_fast(model, x, kernels=FLAGS.kernels, precision=precision)
        host.append(time.perf_counter() - t0)
      ms = 1000 * float(np.median(times))
      images_per_s = FLAGS.fast_batch / (ms / 1000)
      return {"status": "ok" if len(times) == FLAGS.fast_repeats else "cut",
              "first_call_s": first, "repeats": len(times), "ms_per_batch": ms,
              "images_per_s": images_per_s,
              "host_images_per_s": FLAGS.fast_batch / float(np.median(host)),
              "goal_met": bool(images_per_s >= FLAGS.fast_goal_images_per_s)}
    _log_run(sec, sec.attempt({"precision": precision}, measure))


def summarize_fast(sec: Section) -> None:
  best = max((r["images_per_s"] for r in sec.runs if r.get("images_per_s")), default=None)
  sec.info["goal"] = {"what": f">= {FLAGS.fast_goal_images_per_s:g} images/s at "
                              f"{FLAGS.fast_size} px", "best_images_per_s": best,
                      "met": None if best is None else bool(best >= FLAGS.fast_goal_images_per_s)}


def _arbitrary_weights_path() -> pathlib.Path:
  from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel
  return pathlib.Path(FLAGS.arbitrary_weights or weights_lib.default_path())


def _device_ms(fn, sec: Section) -> tuple[float, list[float]]:
  """(first call ms, later calls' ms): fn() -> arrays, blocked on; up to
  --arbitrary_repeats calls while the section is within its cap (at least one)."""
  import jax  # pylint: disable=import-outside-toplevel
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  first = 1000 * (time.perf_counter() - t0)
  times = []
  while len(times) < FLAGS.arbitrary_repeats and not (times and sec.over()):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(1000 * (time.perf_counter() - t0))
  return first, times


def section_arbitrary(inputs: Inputs, sec: Section) -> None:
  path = _arbitrary_weights_path()
  sec.info.update(weights=str(path), size=FLAGS.arbitrary_size,
                  style_size=FLAGS.arbitrary_style_size, kernels=FLAGS.kernels)
  if not path.is_file():
    sec.runs.append({"run": "all", "status": "skipped",
                     "reason": f"no arbitrary-style weights at {path} (--arbitrary_weights)"})
    return
  import jax  # pylint: disable=import-outside-toplevel
  from jaxstyle.arbitrary import inference as arbitrary  # pylint: disable=import-outside-toplevel
  from jaxstyle import kernels as kernels_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.weights import arbitrary as weights_lib  # pylint: disable=import-outside-toplevel
  weights = weights_lib.load(path)
  sec.info["weights_source"] = weights.meta.get("source")
  content, style = inputs.at(FLAGS.arbitrary_size)
  square = arbitrary.style_input(style, FLAGS.arbitrary_style_size)[None]
  kernels = kernels_lib.resolve(FLAGS.kernels)
  predictor_params = jax.device_put(weights.predictor)
  transformer_params = jax.device_put(weights.transformer)
  square_device = jax.device_put(square)
  runs = [(p, "predictor", 1) for p in FLAGS.arbitrary_precisions]
  runs += [(p, "transformer", int(b)) for p in FLAGS.arbitrary_precisions
           for b in FLAGS.arbitrary_batches]
  runs.sort(key=lambda r: FLAGS.arbitrary_precisions.index(r[0]))  # Precision by precision.
  for precision, network, batch in sec.each(runs, lambda r: dict(zip(
      ("precision", "network", "batch"), r))):
    def measure(precision=precision, network=network, batch=batch):
      # The programs jaxstyle.arbitrary runs, on arrays already on the device.
      if network == "predictor":
        forward = arbitrary._predictor(kernels, precision)  # pylint: disable=protected-access
        first, times = _device_ms(lambda: forward(predictor_params, square_device), sec)
        ms = float(np.median(times))
        return {"status": "ok" if len(times) == FLAGS.arbitrary_repeats else "cut",
                "image": [FLAGS.arbitrary_style_size] * 2, "first_call_ms": first,
                "repeats": len(times), "ms": ms}
      forward = arbitrary._transformer(kernels, precision)  # pylint: disable=protected-access
      vector = arbitrary.predict(weights, square, kernels=kernels, precision=precision)[0]
      x = jax.device_put(np.stack([content] * batch))
      s = jax.device_put(np.broadcast_to(vector, (batch, vector.shape[0])))
      first, times = _device_ms(lambda: forward(transformer_params, x, s), sec)
      ms = float(np.median(times))
      t0 = time.perf_counter()  # Host arrays in and out, as `arbitrary.transform`.
      arbitrary.transform(weights, np.stack([content] * batch), vector, kernels=kernels,
                          precision=precision)
      host_s = time.perf_counter() - t0
      return {"status": "ok" if len(times) == FLAGS.arbitrary_repeats else "cut",
              "image": [int(content.shape[1]), int(content.shape[0])],
              "first_call_ms": first, "repeats": len(times), "ms_per_batch": ms,
              "images_per_s": batch / (ms / 1000), "host_images_per_s": batch / host_s}
    _log_run(sec, sec.attempt({"precision": precision, "network": network, "batch": batch},
                              measure))


def summarize_arbitrary(sec: Section) -> None:
  done = [r for r in sec.runs if r.get("status") in ("ok", "cut")]
  sec.info["best_images_per_s"] = {
      str(b): max((r["images_per_s"] for r in done if r.get("batch") == b
                   and r.get("network") == "transformer"), default=None)
      for b in sorted({r["batch"] for r in done if r.get("network") == "transformer"})}
  sec.info["best_predictor_ms"] = min((r["ms"] for r in done if r.get("network") == "predictor"),
                                      default=None)


def section_trace(inputs: Inputs, sec: Section) -> None:
  import jax  # pylint: disable=import-outside-toplevel
  settings = dict(size=FLAGS.trace_size, steps=FLAGS.trace_steps, kernels=FLAGS.kernels,
                  precision=FLAGS.precision)
  sec.attempt({"run": "compile"}, lambda: stylize_run(inputs, sec, **settings))
  if sec.over():
    sec.runs.append({"run": "traced", "status": "skipped", "reason": "over the cap"})
    return
  out = pathlib.Path(FLAGS.output_dir) / "trace.tar.gz"
  with tempfile.TemporaryDirectory(prefix="jaxstyle-trace-") as tmp:
    with jax.profiler.trace(tmp):
      run = sec.attempt({"run": "traced"}, lambda: stylize_run(inputs, sec, **settings))
    _log_run(sec, run)
    with tarfile.open(out, "w:gz") as tar:
      tar.add(tmp, arcname="trace")
    sec.info.update(trace=str(out), trace_bytes=out.stat().st_size, precision=FLAGS.precision,
                    files=sorted(str(p.relative_to(tmp)) for p in pathlib.Path(tmp).rglob("*")
                                 if p.is_file()))
    try:
      sec.info["summary"] = summarize_trace(tmp, top=FLAGS.trace_top)
    except Exception as e:  # pylint: disable=broad-except
      sec.info["summary"] = {"error": f"{type(e).__name__}: {e}"}


RUNNERS = {"gatys": (section_gatys, summarize_gatys), "seeds": (section_seeds, summarize_seeds),
           "steps_per_call": (section_steps_per_call, summarize_steps_per_call),
           "memory": (section_memory, summarize_memory), "fast": (section_fast, summarize_fast),
           "arbitrary": (section_arbitrary, summarize_arbitrary),
           "trace": (section_trace, None)}


def _log_run(sec: Section, run: dict | None) -> None:
  if not run:
    return
  keys = [k for k in ("kernels", "precision", "num_seeds", "steps_per_call_setting", "size",
                      "network", "batch", "run") if k in run]
  what = " ".join(f"{k}={run[k]}" for k in keys)
  numbers = [f"{k}={run[k]:.4g}" for k in ("wall_s", "compile_s", "steady_ms_per_step",
                                           "final_loss", "peak_bytes_in_use", "images_per_s",
                                           "ms")
             if isinstance(run.get(k), (int, float))]
  logging.info("[%s] %s: %s %s%s", sec.name, what, run.get("status"), " ".join(numbers),
               f" ({run['error']})" if "error" in run else "")


# --- Trace summary ----------------------------------------------------------------------


def summarize_trace(path: str | os.PathLike, top: int = 25) -> dict:
  """Top XLA ops (and, on GPUs, kernels) by total time in a jax.profiler trace.

  `path`: the directory jax.profiler.trace wrote, or a .tar.gz of it. Reads the
  *.xplane.pb with jax.profiler.ProfileData; without it, the *.trace.json.gz (gzip + json).
  Ops: per plane, the "XLA Ops" line if there is one, else the events that name an
  `hlo_op`, grouped by op name (times inclusive: a loop counts its body too); kernels:
  the events on a device's "Stream" lines.
  """
  path = pathlib.Path(path)
  with tempfile.TemporaryDirectory(prefix="jaxstyle-trace-read-") as tmp:
    if path.is_file():
      with tarfile.open(path) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12.
          tar.extractall(tmp, filter="data")
        else:
          tar.extractall(tmp)
      path = pathlib.Path(tmp)
    xplanes = sorted(path.rglob("*.xplane.pb"))
    jsons = sorted(path.rglob("*.trace.json.gz"))
    if not xplanes and not jsons:
      raise FileNotFoundError(f"no *.xplane.pb or *.trace.json.gz under {path}")
    try:
      from jax.profiler import ProfileData  # pylint: disable=import-outside-toplevel
    except ImportError:
      ProfileData = None  # pylint: disable=invalid-name
    if xplanes and ProfileData is not None:
      groups = _groups_from_xplane(ProfileData.from_file(str(xplanes[-1])))
      source = str(xplanes[-1].relative_to(path))
    else:
      groups = _groups_from_json(jsons[-1])
      source = str(jsons[-1].relative_to(path))
  out = {"source": source, "planes": {}}
  for (plane, kind), events in sorted(groups.items()):
    total = sum(d for d, _ in events.values())
    rows = sorted(events.items(), key=lambda kv: -kv[1][0])[:top]
    out["planes"].setdefault(plane, {})[kind] = {
        "total_ms": total / 1e6, "distinct": len(events),
        "top": [{"name": name, "ms": d / 1e6, "count": c, "share": d / total if total else None}
                for name, (d, c) in rows]}
  return out


def _add(groups, key, name, duration_ns):
  d, c = groups.setdefault(key, {}).get(name, (0.0, 0))
  groups[key][name] = (d + float(duration_ns), c + 1)


def _groups_from_xplane(profile) -> dict:
  groups = {}
  for plane in profile.planes:
    lines = list(plane.lines)
    xla_ops = [l for l in lines if l.name == "XLA Ops"]
    for line in lines:
      on_stream = plane.name.startswith("/device:") and line.name.startswith("Stream")
      for event in line.events:
        if on_stream:
          _add(groups, (plane.name, "kernels"), event.name, event.duration_ns)
        if xla_ops:
          if line.name == "XLA Ops":
            _add(groups, (plane.name, "ops"), event.name, event.duration_ns)
          continue
        op = dict(event.stats).get("hlo_op")
        if op:
          _add(groups, (plane.name, "ops"), str(op), event.duration_ns)
  return groups


def _groups_from_json(path: pathlib.Path) -> dict:
  import gzip  # pylint: disable=import-outside-toplevel
  with gzip.open(path, "rt") as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  names = {e.get("pid"): e.get("args", {}).get("name") for e in events
           if e.get("ph") == "M" and e.get("name") == "process_name"}
  groups = {}
  for e in events:
    if e.get("ph") != "X":
      continue
    op = (e.get("args") or {}).get("hlo_op")
    plane = str(names.get(e.get("pid"), e.get("pid")))
    if op:
      _add(groups, (plane, "ops"), str(op), 1000 * e.get("dur", 0))
    elif plane.startswith("/device:"):
      _add(groups, (plane, "kernels"), e["name"], 1000 * e.get("dur", 0))
  return groups


# --- The run --------------------------------------------------------------------------------


def environment() -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel
  device = jax.devices()[0]
  env = {"backend": jax.default_backend(), "device_kind": device.device_kind,
         "device_count": jax.device_count(), "jax": jax.__version__,
         "jaxlib": getattr(jaxlib, "__version__", None), "python": platform.python_version(),
         "machine": machine.describe(), "memory": _device_memory(),
         "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"),
         "XLA_FLAGS": os.environ.get("XLA_FLAGS")}
  if shutil.which("nvidia-smi"):
    for key, args in (("nvidia_smi_query", ["--query-gpu=name,driver_version,memory.total,"
                                            "clocks.max.sm,power.limit", "--format=csv"]),
                      ("nvidia_smi", [])):
      try:
        env[key] = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True,
                                  timeout=20, check=False).stdout.strip()
      except (OSError, subprocess.TimeoutExpired) as e:
        env[key] = f"failed: {e}"
  else:
    env["nvidia_smi"] = None
  return env


class _Watchdog:
  """Raises SectionTimeout in the main thread at `deadline` (perf_counter seconds)."""

  def __init__(self, deadline: float):
    self.deadline = deadline

  def _fire(self, signum, frame):
    del signum, frame
    raise SectionTimeout(f"still running {FLAGS.watchdog_grace_s:g} s past the deadline")

  def __enter__(self):
    self.previous = signal.signal(signal.SIGALRM, self._fire)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, self.deadline - time.perf_counter()))
    return self

  def __exit__(self, *exc):
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, self.previous)
    return False


def _status(runs: list[dict]) -> str:
  statuses = {r.get("status") for r in runs}
  if statuses == {"skipped"}:  # Nothing to run (e.g. the arbitrary section's weights).
    return "skipped"
  if "failed" in statuses:
    return "failed"
  if statuses & {"cut", "skipped"}:
    return "cut"
  return "ok"


def run_section(name: str, inputs: Inputs, cap_s: float, budget_end: float) -> dict:
  record = {"cap_s": cap_s}
  if time.perf_counter() >= budget_end:
    return dict(record, status="skipped", wall_s=0.0,
                reason=f"the {FLAGS.budget_s:g} s budget was spent before it started")
  run, summarize = RUNNERS[name]
  sec = Section(name, cap_s, budget_end)
  logging.info("[%s] starting (cap %.0f s, %.0f s left in the budget)", name, cap_s,
               budget_end - sec.start)
  error = None
  try:
    with _Watchdog(sec.deadline + FLAGS.watchdog_grace_s):
      run(inputs, sec)
  except SectionTimeout as e:
    error = ("cut", f"watchdog: {e}")
  except Exception as e:  # pylint: disable=broad-except
    logging.exception("[%s] failed", name)
    error = ("failed", f"{type(e).__name__}: {e}"[:2000],
             traceback.format_exc()[-4000:])
  if summarize is not None:
    try:
      summarize(sec)
    except Exception as e:  # pylint: disable=broad-except
      sec.info["summary_error"] = f"{type(e).__name__}: {e}"
  record.update(sec.info, runs=sec.runs, wall_s=time.perf_counter() - sec.start,
                status=_status(sec.runs))
  if error:
    record.update(status=error[0], error=error[1])
    if len(error) > 2:
      record["traceback"] = error[2]
  return record


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if FLAGS.summarize_trace:
    print(json.dumps(_clean(summarize_trace(FLAGS.summarize_trace, top=FLAGS.trace_top)),
                     indent=1))
    return
  # Before the backend starts: a process holds only what it uses, so the memory
  # section's child finds the device's memory free.
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  if FLAGS.memory_child_output:
    _memory_child()
    return
  start = time.perf_counter()
  budget_end = start + FLAGS.budget_s
  unknown = [s for s in FLAGS.sections if s not in SECTIONS]
  if unknown:
    raise app.UsageError(f"unknown --sections {unknown}; choose from {SECTIONS}")
  caps = parse_caps(FLAGS.caps)
  out_dir = pathlib.Path(FLAGS.output_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  path = out_dir / "results.json"
  results = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
             "complete": False, "budget_s": FLAGS.budget_s,
             "flags": {name: FLAGS[name].value for name in _OWN_FLAGS},
             "environment": environment(),
             "sections": {name: {"status": "pending", "cap_s": caps[name]}
                          for name in FLAGS.sections}}
  env = results["environment"]
  logging.info("%s (%s), jax %s; writing %s", env["device_kind"], env["backend"], env["jax"],
               path)
  error = None
  if FLAGS.require_accelerator and env["backend"] == "cpu":
    error = ("--require_accelerator: JAX found no GPU or TPU (backend cpu); is its CUDA "
             "plugin installed?")
  else:
    try:
      inputs = Inputs()
    except UserError as e:  # E.g. the weights file is missing.
      error = str(e)
  results["elapsed_s"] = time.perf_counter() - start
  if error:
    write_json(path, dict(results, error=error))
    sys.exit(f"benchmarks.accelerator: {error}")
  results["inputs"] = inputs.describe()
  write_json(path, results)
  for name in FLAGS.sections:
    results["sections"][name] = run_section(name, inputs, caps[name], budget_end)
    results["elapsed_s"] = time.perf_counter() - start
    write_json(path, results)
    s = results["sections"][name]
    logging.info("[%s] %s in %.1f s%s", name, s["status"], s["wall_s"],
                 f" ({s.get('error') or s.get('reason')})" if s["status"] != "ok" else "")
  results["complete"] = True
  write_json(path, results)
  print(summary(results))


def summary(results: dict) -> str:
  """A few lines per section, for the log."""
  lines = [f"{results['environment']['device_kind']}: {results['elapsed_s']:.0f} s"]
  for name, s in results["sections"].items():
    goal = s.get("goal", {})
    lines.append(f"{name}: {s['status']} ({s.get('wall_s', 0):.1f} s)"
                 + (f", goal met: {goal.get('met')}" if goal else ""))
    for r in s.get("runs", []):
      fields = {k: r[k] for k in ("kernels", "precision", "num_seeds", "steps_per_call_setting",
                                  "size", "network", "batch", "run", "status", "steps",
                                  "compile_s", "steady_ms_per_step", "steps_s", "final_loss",
                                  "peak_bytes_in_use", "images_per_s", "ms", "reason")
                if r.get(k) is not None}
      lines.append("  " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in fields.items()))
  return "\n".join(lines)


if __name__ == "__main__":
  app.run(main)
