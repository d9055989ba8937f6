"""Atomic file writes: a temporary file beside the target, renamed over it when complete.

`write_or_keep` adds what a command needs when the target cannot be written after all
(a full disk, a folder removed meanwhile): the result goes to a temporary file in the
system's temporary directory instead, and the error names it, so that an hour of work is
never lost to the last write. `unwritable` is the check a command makes before any work.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import Callable, Iterator

from jaxstyle.errors import UserError


class OutputError(UserError, OSError):
  """A file could not be written; the message says why and where its content was kept
  (`kept`; None if it could not be kept either). A UserError (the CLI prints one line,
  exit 1) and an OSError (what the write raised before)."""

  def __init__(self, message: str, kept: pathlib.Path | None = None, reason: str = ""):
    super().__init__(message)
    self.kept = kept
    self.reason = reason  # Why the target could not be written ("No space left on device").


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


def _reason(error: OSError) -> str:
  return error.strerror or str(error) or type(error).__name__


def keep_in_temp(path: str | os.PathLike, write: Callable[[str], None]) -> pathlib.Path:
  """Writes with `write(temporary path)` into a new file in the system's temporary
  directory named after `path` (jaxstyle-NAME-XXXXXXXX.SUFFIX); returns it. OSError
  (removing the partial file) if that fails too."""
  path = pathlib.Path(path)
  fd, kept = tempfile.mkstemp(prefix=f"jaxstyle-{path.stem}-", suffix=path.suffix)
  os.close(fd)
  try:
    write(kept)
    os.chmod(kept, 0o666 & ~_umask())
  except BaseException:
    os.remove(kept)
    raise
  return pathlib.Path(kept)


def save_or_keep(path: str | os.PathLike, save: Callable[[str], None], *,
                 what: str = "it") -> pathlib.Path:
  """Runs `save(path)` (a writer that writes its file atomically itself, e.g.
  `jaxstyle.weights.save`); returns `path`.

  If that fails with an OSError (no space left, no permission, not a directory), the
  same `save` makes a file in the system's temporary directory instead (`keep_in_temp`)
  and OutputError names it: "cannot write PATH (REASON); kept WHAT in TEMP".

  Args:
    what: what the message calls the content ("the image", "the checkpoint").
  """
  path = pathlib.Path(path)
  try:
    save(str(path))
    return path
  except OutputError:
    raise
  except OSError as e:
    reason = _reason(e)
  try:
    kept = keep_in_temp(path, save)
  except OSError as e:
    raise OutputError(f"cannot write {path} ({reason}), nor keep {what} in "
                      f"{tempfile.gettempdir()} ({_reason(e)})", None, reason) from None
  raise OutputError(f"cannot write {path} ({reason}); kept {what} in {kept}", kept, reason)


def write_or_keep(path: str | os.PathLike, write: Callable[[str], None], *,
                  suffix: str = ".tmp", what: str = "it") -> pathlib.Path:
  """Writes `path` atomically with `write(temporary path)`; returns `path`. If that
  fails, `save_or_keep` keeps the content in the system's temporary directory and
  raises OutputError naming it.

  Args:
    suffix: of the temporary file beside `path` (writers such as np.savez or imageio
      go by it).
    what: what the message calls the content ("the image", "the checkpoint").
  """

  def save(target: str) -> None:
    with atomic_path(target, suffix=suffix) as tmp:
      write(tmp)

  return save_or_keep(path, save, what=what)


def unwritable(path: str | os.PathLike) -> str | None:
  """Why a file could not be created at `path` (writing it would make the folders it
  lacks), or None if it can: the nearest existing folder must be a directory where a file
  can be created (tried with an anonymous temporary file), and `path` not a directory."""
  path = pathlib.Path(os.path.abspath(path))
  if path.is_dir():
    return f"{path} is a directory"
  folder = path.parent
  while not os.path.lexists(folder) and folder != folder.parent:
    folder = folder.parent
  if not folder.is_dir():
    return f"{folder} is not a directory"
  try:
    with tempfile.TemporaryFile(dir=folder):
      pass
  except OSError as e:
    return f"no file can be created in {folder} ({_reason(e)})"
  return None
