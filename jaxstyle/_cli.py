"""What every absl command of jaxstyle shares: one `error:` line for a user's mistake,
and the persistent compilation cache (--compilation_cache)."""

from __future__ import annotations

import sys
from typing import Callable

from absl import app, flags

from jaxstyle import cache
from jaxstyle.errors import UserError

flags.DEFINE_string(
    "compilation_cache", cache.default_directory(),
    "Directory of JAX's persistent compilation cache: a run that finds its programs "
    "there skips compiling them (seconds on a CPU). Empty: no cache. Default: "
    "$JAXSTYLE_CACHE, else ~/.cache/jaxstyle/xla.")


def main_for(run: Callable[[], None], *, interrupted: str = "interrupted"
             ) -> Callable[[list[str]], None]:
  """An absl `main(argv)` that runs `run()` and turns user errors into one line.

  UserError, running out of host or device memory and Ctrl-C end with a message on
  stderr and a non-zero exit status instead of a traceback; other exceptions (bugs)
  keep theirs.
  """

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if flags.FLAGS.compilation_cache:
      cache.enable_compilation_cache(flags.FLAGS.compilation_cache)
    try:
      run()
    except UserError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
    except MemoryError:
      print("error: out of memory; use smaller images or fewer seeds", file=sys.stderr)
      sys.exit(1)
    except Exception as e:  # pylint: disable=broad-except
      if "RESOURCE_EXHAUSTED" in str(e) or "Out of memory" in str(e):
        print("error: the device ran out of memory; use smaller images or fewer seeds",
              file=sys.stderr)
        sys.exit(1)
      raise
    except KeyboardInterrupt:
      print(interrupted, file=sys.stderr)
      sys.exit(130)

  return main


def entry_point(define_flags: Callable[[], None], run: Callable[[], None], *,
                interrupted: str = "interrupted") -> tuple[Callable[[list[str]], None],
                                                           Callable[[], None]]:
  """(main, console-script entry point) of a command: `main_for(run)`, and a function
  that defines the command's flags and runs `main` under absl."""
  main = main_for(run, interrupted=interrupted)

  def entry():
    define_flags()
    app.run(main)

  return main, entry
