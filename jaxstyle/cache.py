"""JAX's persistent compilation cache, on for jaxstyle's commands.

Compiling the objective's step and the targets' feature program takes seconds
(benchmarks/README.md); a run that finds its programs in the cache skips that. The cache is keyed by the program, its shapes and the
backend, so a new image size or layer choice compiles (and is cached) once.
"""

from __future__ import annotations

import os
import pathlib

import jax
from absl import logging


def default_directory() -> str:
  """$JAXSTYLE_CACHE, else $XDG_CACHE_HOME/jaxstyle/xla, else ~/.cache/jaxstyle/xla."""
  if os.environ.get("JAXSTYLE_CACHE"):
    return os.environ["JAXSTYLE_CACHE"]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(pathlib.Path.home(), ".cache")
  return os.path.join(base, "jaxstyle", "xla")


def enable_compilation_cache(directory: str | None = None) -> str | None:
  """Caches compiled programs in `directory` (default_directory() if None).

  Returns the directory, or None when it cannot be created (the run then compiles as
  usual; a warning says why).
  """
  directory = directory or default_directory()
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    logging.warning("no compilation cache (%s): %s", directory, e)
    return None
  jax.config.update("jax_compilation_cache_dir", directory)
  # Everything worth keeping compiles in more than this; tiny programs are not written.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  return directory
