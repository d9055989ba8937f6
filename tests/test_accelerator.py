"""benchmarks/accelerator.py runs end to end on the CPU at tiny sizes (timings are never
asserted), so that the one-call GPU benchmark cannot rot."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "accelerator.sh")
SECTIONS = ("gatys", "seeds", "steps_per_call", "memory", "fast", "arbitrary", "trace")
TINY = ["--gatys_runs=xla:bfloat16,cpu:float32", "--gatys_size=32", "--gatys_steps=3",
        "--seed_counts=1,2", "--seed_size=32", "--seed_steps=3",
        "--spc_size=32", "--spc_steps=3", "--memory_sizes=48,32", "--memory_steps=2",
        "--fast_size=32", "--fast_batch=1", "--fast_repeats=2", "--fast_precisions=float32",
        "--trace_size=32", "--trace_steps=2", "--precision=float32", "--images=synthetic",
        "--arbitrary_size=32", "--arbitrary_batches=1,2", "--arbitrary_style_size=32",
        "--arbitrary_repeats=2", "--arbitrary_precisions=float32"]


def _run(args, timeout=900):
  done = subprocess.run([sys.executable, "-m", "benchmarks.accelerator", *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False,
                        env=dict(os.environ, PYTHONPATH=ROOT))
  assert done.returncode == 0, done.stderr[-3000:]
  return done


@pytest.fixture(scope="module")
def arbitrary_weights_file(tmp_path_factory):
  from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
  path = tmp_path_factory.mktemp("arbitrary") / "arbitrary_style.npz"
  arbitrary.save(arbitrary.random_weights(seed=0), path)
  return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_weights_file, arbitrary_weights_file):
  out = tmp_path_factory.mktemp("accelerator")
  # steps_per_call's cap of 0 s: its first run is made, the second is skipped. The other
  # sections' caps and the budget are far above what they need, so that a busy machine
  # does not cut them (the default 20 s caps did, with 2 cores shared by several runs).
  caps = ",".join(f"{name}={0 if name == 'steps_per_call' else 900}" for name in SECTIONS)
  _run([f"--output_dir={out}", f"--weights={tiny_weights_file}", f"--caps={caps}",
        "--budget_s=3600", f"--arbitrary_weights={arbitrary_weights_file}", *TINY])
  return out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_every_section_is_recorded(tiny_run):
  _, results = tiny_run
  assert results["complete"] is True
  env = results["environment"]
  assert env["backend"] == "cpu" and env["device_kind"] and env["jax"]
  assert "nvidia_smi" in env and "memory" in env
  assert list(results["sections"]) == ["gatys", "seeds", "steps_per_call", "memory", "fast",
                                       "arbitrary", "trace"]
  for name, section in results["sections"].items():
    assert section["status"] in ("ok", "cut"), (name, section)
    assert section["wall_s"] >= 0 and section["cap_s"] >= 0 and section["runs"]


def test_gatys_records_timings_losses_and_the_goal(tiny_run):
  gatys = tiny_run[1]["sections"]["gatys"]
  assert [(r["kernels"], r["precision"]) for r in gatys["runs"]] == [
      ("xla", "bfloat16"), ("cpu", "float32")]
  for r in gatys["runs"]:
    assert r["status"] == "ok" and r["steps"] == 3 and r["image"] == [32, 24]
    assert r["first_call_s"] > 0 and r["compile_s"] >= 0 and r["steady_ms_per_step"] > 0
    assert r["final_loss"] < r["initial_loss"]
    assert r["warm"]["status"] == "ok" and r["steps_s"] == r["warm"]["optimize_s"]
    # The default goal, 2 s for the steps: the warm repeat's time decides.
    assert r["goal_met"] is (r["steps_s"] <= 2.0), r
  assert gatys["goal"]["met"] is gatys["runs"][0]["goal_met"]  # The one reduced-precision run.


def test_seeds_steps_per_call_memory_fast(tiny_run):
  sections = tiny_run[1]["sections"]
  seeds = sections["seeds"]
  assert [r["num_seeds"] for r in seeds["runs"]] == [1, 2]
  assert seeds["runs"][0]["time_ratio_vs_1_seed"] == 1.0
  assert seeds["goal"]["seeds"] == 2 and seeds["goal"]["ratio"] > 0
  memory = sections["memory"]
  assert [r["size"] for r in memory["runs"]] == [32, 48]  # Ascending, in a child process.
  for r in memory["runs"]:
    assert r["status"] == "ok" and "peak_bytes_in_use" in r  # None on the CPU.
    assert r["peak_rss_mb"] > 0 and r["estimate_bytes"] > 0
  fast = sections["fast"]["runs"][0]
  assert fast["status"] == "ok" and fast["repeats"] == 2
  assert fast["images_per_s"] > 0 and fast["host_images_per_s"] > 0


def test_arbitrary_times_both_networks(tiny_run):
  arbitrary = tiny_run[1]["sections"]["arbitrary"]
  assert arbitrary["weights_source"] == "random(seed=0)"
  runs = [(r["precision"], r["network"], r["batch"]) for r in arbitrary["runs"]]
  assert runs == [("float32", "predictor", 1), ("float32", "transformer", 1),
                  ("float32", "transformer", 2)]
  predictor, *transformer = arbitrary["runs"]
  assert predictor["status"] == "ok" and predictor["image"] == [32, 32] and predictor["ms"] > 0
  for r in transformer:
    assert r["status"] == "ok" and r["repeats"] == 2 and r["image"] == [32, 24]
    assert r["images_per_s"] > 0 and r["host_images_per_s"] > 0 and r["first_call_ms"] > 0
  assert set(arbitrary["best_images_per_s"]) == {"1", "2"}


@pytest.mark.slow
def test_arbitrary_without_weights_is_skipped(tmp_path, tiny_weights_file):
  _run([f"--output_dir={tmp_path}", f"--weights={tiny_weights_file}", "--sections=arbitrary",
        f"--arbitrary_weights={tmp_path / 'absent.npz'}", *TINY])
  arbitrary = json.loads((tmp_path / "results.json").read_text())["sections"]["arbitrary"]
  assert arbitrary["status"] == "skipped"
  assert "no arbitrary-style weights at" in arbitrary["runs"][0]["reason"]


def test_a_section_over_its_cap_is_cut(tiny_run):
  spc = tiny_run[1]["sections"]["steps_per_call"]
  assert spc["status"] == "cut" and spc["cap_s"] == 0
  first, second = spc["runs"]
  assert first["steps_per_call_setting"] == 1 and first["status"] == "ok"
  assert second["steps_per_call_setting"] == "auto" and second["status"] == "skipped"


@pytest.mark.slow
def test_trace_is_saved_and_summarized(tiny_run):
  out, results = tiny_run
  trace = results["sections"]["trace"]
  assert os.path.isfile(trace["trace"]) and trace["trace"].endswith("trace.tar.gz")
  assert any(f.endswith(".xplane.pb") for f in trace["files"])
  ops = trace["summary"]["planes"]["/host:CPU"]["ops"]
  assert ops["total_ms"] > 0 and ops["top"][0]["ms"] >= ops["top"][-1]["ms"]
  again = json.loads(_run(["--summarize_trace=" + str(out / "trace.tar.gz"),
                           "--trace_top=5"]).stdout)
  assert len(again["planes"]["/host:CPU"]["ops"]["top"]) == 5


# The goals' rules on constructed runs whose answers are known, met and not met
# (benchmarks.accelerator defines absl flags at import, which the commands tested
# in-process also define: it is imported in a child, which needs no JAX).
RULES = textwrap.dedent("""
    import json
    from benchmarks import accelerator as a
    a.FLAGS(["accelerator", "--gatys_goal_s=2", "--gatys_steps=500", "--seed_counts=1,4,8",
             "--seed_goal_ratio=3", "--fast_goal_images_per_s=30"])

    def section(runs):
      sec = a.Section("x", 1.0, 0.0)
      sec.runs = [dict(r) for r in runs]
      return sec

    warm = lambda s: {"status": "ok", "optimize_s": s}
    fast_bf16 = dict(kernels="xla", precision="bfloat16", status="ok", steps=500,
                     steady_ms_per_step=10.0, warm=warm(1.5))  # 5 s steady: warm decides.
    slow_tf32 = dict(kernels="xla", precision="tensorfloat32", status="ok", steps=500,
                     steady_ms_per_step=1.0, warm=warm(2.5))
    fast_f32 = dict(kernels="xla", precision="float32", status="ok", steps=500,
                    steady_ms_per_step=3.0, final_loss=2.0)  # No warm repeat: 1.5 s.
    cut = dict(kernels="cpu", precision="float32", status="cut", steps=200,
               steady_ms_per_step=1.0)
    out = {}
    for name, runs in {"met": [fast_bf16, slow_tf32, fast_f32, cut],
                       "unmet": [slow_tf32, fast_f32], "none": [fast_f32, cut]}.items():
      sec = section(runs)
      a.summarize_gatys(sec)
      out["gatys_" + name] = {"runs": [(r.get("steps_s"), r.get("goal_met")) for r in sec.runs],
                              "met": sec.info["goal"]["met"]}
    for name, ratio in {"met": 2.9, "unmet": 3.1}.items():
      sec = section([{"num_seeds": 1, "steady_ms_per_step": 10.0},
                     {"num_seeds": 8, "steady_ms_per_step": 10.0 * ratio}])
      a.summarize_seeds(sec)
      out["seeds_" + name] = sec.info["goal"]["met"]
    sec = section([{"num_seeds": 1, "steady_ms_per_step": 10.0},
                   {"num_seeds": 4, "steady_ms_per_step": 10.0}])  # 8 seeds not measured.
    a.summarize_seeds(sec)
    out["seeds_none"] = sec.info["goal"]["met"]
    for name, best in {"met": 30.0, "unmet": 29.0}.items():
      sec = section([{"images_per_s": 5.0}, {"images_per_s": best}])
      a.summarize_fast(sec)
      out["fast_" + name] = sec.info["goal"]["met"]
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_goal_rules_on_runs_whose_answer_is_known():
  """gatys: the steps in <= --gatys_goal_s, timed by the warm repeat when there is one
  (else steady ms/step x steps), only for runs of all the steps; the section's goal is
  met by any reduced-precision XLA run, None when none was timed. seeds: the most seeds
  in <= the ratio; fast: the best images/s >= the goal."""
  done = subprocess.run([sys.executable, "-c", RULES], capture_output=True, text=True,
                        cwd=ROOT, timeout=120, check=False, env=dict(os.environ, PYTHONPATH=ROOT))
  assert done.returncode == 0, done.stderr[-3000:]
  out = json.loads(done.stdout)
  assert out["gatys_met"] == {"runs": [[1.5, True], [2.5, False], [1.5, True], [0.5, None]],
                              "met": True}
  assert out["gatys_unmet"] == {"runs": [[2.5, False], [1.5, True]], "met": False}
  assert out["gatys_none"]["met"] is None
  assert (out["seeds_met"], out["seeds_unmet"], out["seeds_none"]) == (True, False, None)
  assert (out["fast_met"], out["fast_unmet"]) == (True, False)


def test_the_shell_script_parses():
  done = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr


def _script(tmp_path, weights, *args):
  env = dict(os.environ, OUT=str(tmp_path), WEIGHTS=str(weights), PYTHON=sys.executable,
             WHEELS=str(tmp_path / "no-wheels"), PYTHONPATH="")
  return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env,
                        timeout=120, check=False)


@pytest.mark.slow
def test_the_script_stops_at_once_without_an_accelerator(tmp_path, tiny_weights_file):
  done = _script(tmp_path, tiny_weights_file)
  assert done.returncode == 1
  results = json.loads((tmp_path / "results.json").read_text())
  assert "no GPU or TPU" in results["error"] and results["complete"] is False
  assert (tmp_path / "log.txt").is_file()


@pytest.mark.slow
def test_a_spent_budget_skips_every_section(tmp_path, tiny_weights_file):
  done = _script(tmp_path, tiny_weights_file, "--norequire_accelerator", "--budget_s=0",
                 "--sections=gatys,fast")
  assert done.returncode == 0, done.stdout[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["complete"] is True
  assert [s["status"] for s in results["sections"].values()] == ["skipped", "skipped"]
