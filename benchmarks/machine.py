"""The machine a benchmark ran on, recorded beside its results."""

from __future__ import annotations

import os
import platform


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
