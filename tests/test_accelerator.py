"""benchmarks/accelerator.py runs end to end on the CPU at tiny sizes (timings are never
asserted), so that the one-call GPU benchmark cannot rot."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "accelerator.sh")
TINY = ["--gatys_runs=xla:bfloat16,cpu:float32", "--gatys_size=32", "--gatys_steps=3",
        "--seed_counts=1,2", "--seed_size=32", "--seed_steps=3",
        "--spc_size=32", "--spc_steps=3", "--memory_sizes=48,32", "--memory_steps=2",
        "--fast_size=32", "--fast_batch=1", "--fast_repeats=2", "--fast_precisions=float32",
        "--trace_size=32", "--trace_steps=2", "--precision=float32", "--images=synthetic",
        "--arbitrary_size=32", "--arbitrary_batches=1,2", "--arbitrary_style_size=32",
        "--arbitrary_repeats=2", "--arbitrary_precisions=float32"]


def _run(args, timeout=300):
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
  # steps_per_call's cap of 0 s: its first run is made, the second is skipped.
  _run([f"--output_dir={out}", f"--weights={tiny_weights_file}", "--caps=steps_per_call=0",
        f"--arbitrary_weights={arbitrary_weights_file}", *TINY])
  return out, json.loads((out / "results.json").read_text())


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
    assert isinstance(r["goal_met"], bool)
  assert gatys["goal"]["met"] in (True, False)


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


def test_the_shell_script_parses():
  done = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr


def _script(tmp_path, weights, *args):
  env = dict(os.environ, OUT=str(tmp_path), WEIGHTS=str(weights), PYTHON=sys.executable,
             WHEELS=str(tmp_path / "no-wheels"), PYTHONPATH="")
  return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env,
                        timeout=120, check=False)


def test_the_script_stops_at_once_without_an_accelerator(tmp_path, tiny_weights_file):
  done = _script(tmp_path, tiny_weights_file)
  assert done.returncode == 1
  results = json.loads((tmp_path / "results.json").read_text())
  assert "no GPU or TPU" in results["error"] and results["complete"] is False
  assert (tmp_path / "log.txt").is_file()


def test_a_spent_budget_skips_every_section(tmp_path, tiny_weights_file):
  done = _script(tmp_path, tiny_weights_file, "--norequire_accelerator", "--budget_s=0",
                 "--sections=gatys,fast")
  assert done.returncode == 0, done.stdout[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["complete"] is True
  assert [s["status"] for s in results["sections"].values()] == ["skipped", "skipped"]
