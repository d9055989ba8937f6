"""jaxstyle.kernels: `auto` picks the CPU kernels on the CPU only."""

import jax
import pytest

from jaxstyle import kernels as kernels_lib


def test_auto_picks_cpu_kernels_on_cpu_only(monkeypatch):
  assert kernels_lib.resolve("auto") == "cpu"  # These tests run on the CPU backend.
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert kernels_lib.resolve("auto") == "xla"
  monkeypatch.setattr(jax, "default_backend", lambda: "tpu")
  assert kernels_lib.resolve("auto") == "xla"
  assert kernels_lib.resolve("cpu") == "cpu"
  with pytest.raises(ValueError, match="kernels must be one of"):
    kernels_lib.resolve("cuda")
