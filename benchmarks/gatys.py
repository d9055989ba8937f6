r"""Gatys style transfer, jaxstyle vs a PyTorch reference, side by side in one run.

  pip install -e '.[bench]'          # adds torch==2.13.0 (CPU), for the reference only
  python -m benchmarks.gatys                         # this CPU: ~35 min
  python -m benchmarks.gatys --impls=jax --sizes=512 --target_steps=500   # a GPU: jax only

Every configuration runs in its own process (benchmarks/worker.py), one at a time,
so that timings do not overlap and peak RSS is per configuration. Writes
benchmarks/results/NAME.json and NAME.md (the table pasted into benchmarks/README.md).

Measured:
  - steady ms per iteration (median over iterations 3..N) and evaluations per iteration,
    at each --sizes, one seed;
  - time to reach the reference's loss after --target_steps iterations (same objective,
    same white-noise start), and the loss each reaches after that many iterations;
  - throughput for --seed_counts white-noise starts optimized together;
  - fixed costs: import, weights load, targets, first step (compilation for JAX);
  - peak RSS of each process.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

flags.DEFINE_list("impls", ["jax", "torch"], "Implementations to measure.")
flags.DEFINE_list("jax_methods", ["lbfgs", "jaxopt_lbfgs", "lbfgs_zoom"],
                  "jaxstyle solvers to measure (lbfgs: in-place L-BFGS, unit step; "
                  "jaxopt_lbfgs: the same algorithm through jaxopt.LBFGS; lbfgs_zoom: "
                  "jaxopt.LBFGS with its zoom line search).")
flags.DEFINE_list("sizes", ["256", "512", "1024"], "Image sizes (longer side, px).")
flags.DEFINE_list("steps_per_size", ["30", "12", "4"], "Iterations timed at each size.")
flags.DEFINE_integer("target_size", 256, "Size of the time-to-target comparison.")
flags.DEFINE_integer("target_steps", 300, "The reference's iterations defining the target.")
flags.DEFINE_list("target_methods", ["lbfgs"], "jaxstyle solvers in the time-to-target runs.")
flags.DEFINE_list("torch_target_methods", ["lbfgs"],
                  "Reference solvers in the time-to-target runs (lbfgs, lbfgs_wolfe); the "
                  "first whose loss stays finite defines the target.")
flags.DEFINE_float("torch_loss_scale", 1e-9,
                   "The reference optimizes its loss times this. torch.optim.LBFGS's first "
                   "step is -g min(1, 1/|g|_1), not scale-free: on the paper's unscaled sums "
                   "it diverges at iteration 2 (loss 7.8e12 at the start); the PyTorch tools' "
                   "mean-based losses are many orders smaller. 1e-9 converged best of "
                   "1, 1e-6, 1e-9, 1e-12 over 60 iterations at 256 px.")
flags.DEFINE_bool("target_warm_cache", True,
                  "Also time jax's first target method again, with the compilation cache "
                  "its first run filled (what a user's second run of a command sees).")
flags.DEFINE_list("sections", ["per_iteration", "target", "seeds"], "What to measure.")
flags.DEFINE_list("seed_counts", ["1", "4", "8"], "Seeds optimized together.")
flags.DEFINE_integer("seed_size", 256, "Size of the seed-throughput runs.")
flags.DEFINE_integer("seed_steps", 8, "Iterations of the seed-throughput runs.")
flags.DEFINE_integer("history", 100, "L-BFGS memory for both implementations.")
flags.DEFINE_string("weights", None, "Weights .npz (default: jaxstyle's default file).")
flags.DEFINE_string("content", "../shared/images/tubingen.jpg", "Content image.")
flags.DEFINE_string("style", "../shared/images/starry_night.jpg", "Style image.")
flags.DEFINE_string("name", "cpu", "Results are written to benchmarks/results/NAME.{json,md}.")
flags.DEFINE_string("results_dir", "benchmarks/results", "Where results go.")
FLAGS = flags.FLAGS


def _worker(impl: str, method: str, size: int, seeds: int, steps: int,
            cache: str | None = None) -> dict:
  command = [sys.executable, "-m", "benchmarks.worker", f"--impl={impl}", f"--method={method}",
             f"--size={size}", f"--seeds={seeds}", f"--steps={steps}",
             f"--history={FLAGS.history}", f"--content={FLAGS.content}",
             f"--style={FLAGS.style}"]
  if FLAGS.weights:
    command.append(f"--weights={FLAGS.weights}")
  if impl == "torch":
    command.append(f"--loss_scale={FLAGS.torch_loss_scale}")
  if cache:
    command.append(f"--compilation_cache={cache}")
  logging.info("running %s", " ".join(command[2:]))
  done = subprocess.run(command, capture_output=True, text=True, check=False,
                        env=dict(os.environ, PYTHONPATH=os.getcwd()))
  if done.returncode != 0:
    logging.error("failed:\n%s", done.stderr[-2000:])
    return {"impl": impl, "method": method, "size": size, "seeds": seeds,
            "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
  result = json.loads(done.stdout.strip().splitlines()[-1])
  times = np.asarray(result["times"])
  if len(times) > 3:
    result["ms_per_iter"] = float(np.median(np.diff(times[2:])) * 1000)
  else:
    result["ms_per_iter"] = float(np.diff(times).mean() * 1000)
  result["evals_per_iter"] = (result["evaluations"] - 1) / result["steps"]
  logging.info("%s %s %d px x%d: %.0f ms/iter, %.2f evals/iter, peak %.0f MB", impl, method,
               size, seeds, result["ms_per_iter"], result["evals_per_iter"],
               result["peak_rss_mb"])
  return result


def _time_to(result: dict, target: float) -> float | None:
  """Seconds from the start of the optimization (so compiling, for JAX, and the first
  evaluation included) to the first loss <= target (None: never)."""
  losses = np.asarray(result["losses"]).mean(axis=1)
  times = np.asarray(result["times"])
  hit = np.nonzero(losses <= target)[0]
  return float(times[hit[0]]) if len(hit) else None


def _methods(impl):
  return FLAGS.jax_methods if impl == "jax" else ["lbfgs"]


def main(argv):
  del argv
  started = time.time()
  results = {"machine": machine.describe(), "flags": {k: getattr(FLAGS, k) for k in (
      "impls", "jax_methods", "sizes", "steps_per_size", "target_size", "target_steps",
      "target_methods", "torch_target_methods", "torch_loss_scale", "sections",
      "seed_counts", "seed_size", "seed_steps", "history")}, "per_iteration": [],
             "target": {}, "seeds": []}
  # 1. Steady per-iteration time and memory at each size.
  for size, steps in zip(map(int, FLAGS.sizes), map(int, FLAGS.steps_per_size)):
    if "per_iteration" not in FLAGS.sections:
      break
    for impl in FLAGS.impls:
      for method in _methods(impl):
        results["per_iteration"].append(_worker(impl, method, size, 1, steps))
  # 2. Time to reach the reference's loss after target_steps iterations.
  runs = {}
  with tempfile.TemporaryDirectory(prefix="jaxstyle-bench-cache-") as cache:
    for impl in FLAGS.impls if "target" in FLAGS.sections else []:
      methods = FLAGS.target_methods if impl == "jax" else FLAGS.torch_target_methods
      for method in methods:
        runs[f"{impl}/{method}"] = _worker(impl, method, FLAGS.target_size, 1,
                                           FLAGS.target_steps, cache=cache)
      if impl == "jax" and FLAGS.target_warm_cache and methods:
        runs[f"jax/{methods[0]} (cache)"] = _worker(impl, methods[0], FLAGS.target_size, 1,
                                                    FLAGS.target_steps, cache=cache)
  finite = [r for k, r in runs.items() if k.startswith("torch/") and "losses" in r
            and np.all(np.isfinite(r["losses"]))]
  if finite:
    target = float(np.mean(finite[0]["losses"][-1]))
    results["reference"] = f"torch/{finite[0]['method']}"
  elif runs:  # No usable reference: the first jax run's own final loss.
    target = float(np.mean(next(iter(runs.values()))["losses"][-1]))
  for key, run in runs.items():
    if "losses" not in run:
      continue
    diverged = not np.all(np.isfinite(run["losses"]))
    results["target"][key] = {
        "diverged_at": int(np.argmin(np.isfinite(np.asarray(run["losses"]).mean(1))))
                       if diverged else None,
        "final_loss": float(np.mean(run["losses"][-1])), "target_loss": target,
        "time_to_target_s": _time_to(run, target), "total_s": run["times"][-1],
        "ms_per_iter": run["ms_per_iter"], "evals_per_iter": run["evals_per_iter"],
        "method": run["method"],
        "import_s": run["import_s"], "weights_s": run["weights_s"],
        "targets_s": run["targets_s"], "first_step_s": run["first_step_s"],
        "peak_rss_mb": run["peak_rss_mb"],
        "losses": run["losses"], "times": run["times"]}
  # 3. Seeds optimized together.
  for impl in FLAGS.impls if "seeds" in FLAGS.sections else []:
    for n in map(int, FLAGS.seed_counts):
      run = _worker(impl, "lbfgs", FLAGS.seed_size, n, FLAGS.seed_steps)
      if "ms_per_iter" in run:
        run["images_per_s"] = n / (run["ms_per_iter"] / 1000 * 500)  # 500-iteration images.
      results["seeds"].append({k: v for k, v in run.items() if k not in ("losses", "times")})
  results["per_iteration"] = [{k: v for k, v in r.items() if k not in ("losses", "times")}
                              for r in results["per_iteration"]]
  results["seconds"] = time.time() - started
  out = pathlib.Path(FLAGS.results_dir)
  out.mkdir(parents=True, exist_ok=True)
  (out / f"{FLAGS.name}.json").write_text(json.dumps(results, indent=1))
  (out / f"{FLAGS.name}.md").write_text(table(results))
  print(table(results))


def _ratio(a, b):
  return f"{a / b:.2f}x" if a and b else "—"


def table(results: dict) -> str:
  """The markdown tables of benchmarks/README.md."""
  lines = ["### Per iteration (one seed)", "",
           "| size | implementation | ms / iteration | evaluations / iteration | "
           "vs PyTorch | peak RSS (MB) |", "|---|---|---|---|---|---|"]
  by = {(r["size"], r["impl"], r["method"]): r for r in results["per_iteration"]
        if "ms_per_iter" in r}
  for r in results["per_iteration"]:
    if "ms_per_iter" not in r:
      lines.append(f"| {r['size']} | {r['impl']} {r['method']} | failed: {r.get('error')} "
                   "| | | |")
      continue
    ref = by.get((r["size"], "torch", "lbfgs"))
    lines.append(f"| {r['size']} | {r['impl']} {r['method']} | {r['ms_per_iter']:.0f} | "
                 f"{r['evals_per_iter']:.2f} | "
                 f"{_ratio(r['ms_per_iter'], ref['ms_per_iter']) if ref else '—'} | "
                 f"{r['peak_rss_mb']:.0f} |")
  t = results["target"]
  if t:
    ref = t.get(results.get("reference", "torch/lbfgs"))
    first = next(iter(t.values()))
    lines += ["", f"### Time to the reference's loss after {results['flags']['target_steps']} "
              f"iterations ({results['flags']['target_size']} px, target "
              f"{first['target_loss']:.4g})", "",
              f"Reference: {results.get('reference', 'none')}.", "",
              "| implementation | time to target (s) | vs reference | loss after "
              f"{results['flags']['target_steps']} its | evaluations / it | import (s) | "
              "weights (s) | targets (s) | first step (s) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, r in t.items():
      ttt = r["time_to_target_s"]
      if r.get("diverged_at") is not None:
        lines.append(f"| {key} | diverged (loss not finite at iteration "
                     f"{r['diverged_at']}) | — | nan | {r['evals_per_iter']:.2f} | "
                     f"{r['import_s']:.1f} | "
                     f"{r['weights_s']:.1f} | {r['targets_s']:.1f} | {r['first_step_s']:.1f} |")
        continue
      lines.append(
          f"| {key} | {'not reached' if ttt is None else f'{ttt:.1f}'} | "
          f"{_ratio(ttt, ref['time_to_target_s']) if ref and ttt else '—'} | "
          f"{r['final_loss']:.4g} | {r['evals_per_iter']:.2f} | {r['import_s']:.1f} | "
          f"{r['weights_s']:.1f} | "
          f"{r['targets_s']:.1f} | {r['first_step_s']:.1f} |")
  if results["seeds"]:
    lines += ["", f"### Seeds optimized together ({results['flags']['seed_size']} px)", "",
              "| implementation | seeds | ms / iteration | images / s (500 its each) | "
              "vs 1 seed | peak RSS (MB) |", "|---|---|---|---|---|---|"]
    one = {r["impl"]: r for r in results["seeds"] if r["seeds"] == 1 and "ms_per_iter" in r}
    for r in results["seeds"]:
      if "ms_per_iter" not in r:
        continue
      base = one.get(r["impl"])
      lines.append(f"| {r['impl']} | {r['seeds']} | {r['ms_per_iter']:.0f} | "
                   f"{r['images_per_s']:.4f} | "
                   f"{_ratio(r['ms_per_iter'], base['ms_per_iter']) if base else '—'} | "
                   f"{r['peak_rss_mb']:.0f} |")
  m = results["machine"]
  lines += ["", f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, "
            f"{m.get('memory_gb', '?')} GB; {m['platform']}; Python {m['python']}. "
            f"Whole run: {results['seconds'] / 60:.0f} min.", ""]
  return "\n".join(lines)


if __name__ == "__main__":
  app.run(main)
