"""The machine a benchmark ran on, recorded beside its results."""

from __future__ import annotations

import json
import os
import pathlib
import platform
from typing import Any, Callable


def describe() -> dict:
  """Platform, Python, CPU model and count, memory, and the load average at the start."""
  info = {"platform": platform.platform(), "python": platform.python_version(),
          "cpus": os.cpu_count()}
  try:
    with open("/proc/cpuinfo") as f:
      info["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
  except (OSError, StopIteration):
    pass
  try:
    with open("/proc/meminfo") as f:
      info["memory_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
  except OSError:
    pass
  try:
    with open("/proc/loadavg") as f:
      info["load_average_at_start"] = f.read().split()[:3]
  except OSError:
    pass
  return info


def print_table(header: list[str], rows: list[list[str]]) -> None:
  """A Markdown table on stdout, as benchmarks/README.md quotes it."""
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  for row in rows:
    print("| " + " | ".join(row) + " |")


def merged_runs(path: str | os.PathLike, rows: list[dict], key: Callable[[dict], Any],
                order: Callable[[dict], Any]) -> list[dict]:
  """The results file's "runs" with `rows` replacing those of the same key, sorted by
  `order`: a benchmark can rerun some of its rows (a size on a quiet machine, one method)
  and keep the others."""
  file = pathlib.Path(path)
  old = json.loads(file.read_text())["runs"] if file.is_file() else []
  new_keys = {key(r) for r in rows}
  return sorted([r for r in old if key(r) not in new_keys] + rows, key=order)
