"""Atomic file writes: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import Iterator


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
  """Yields a temporary path to write; on success it replaces `path`, else it is removed.

  A kill or an exception never leaves a half-written `path` (nor a stray temporary).
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=suffix)
  os.close(fd)
  try:
    yield tmp
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions.
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
