"""Runs a command in this test process, as `main(argv)`, or as a real subprocess.

In-process (`run_main`) is for argument checks, refusals and small end-to-end runs: no
Python start, no JAX import, and the jitted programs are shared with the other tests.
A real subprocess (`run_subprocess`) is kept for what only a process shows: the console
entry point, absl's logging set-up (progress lines), exit codes of signals.

Every command defines its flags on absl's global FLAGS, and two commands may define the
same name differently (--style is a list in `jaxstyle`, a string in `jaxstyle-video`), so
`run_main` first deletes the flags that commands defined before and defines the
command's own anew: each call starts from the command's defaults, as a new process does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import os
import runpy
import signal
import subprocess
import sys

from absl import app  # pylint: disable=unused-import  # Defines absl's own flags.
from absl import flags

importlib.import_module("absl.logging")  # Defines absl's own flags (--verbosity, ...).

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
app.define_help_flags()  # app.run defines them once per process: they must survive.
_BUILTIN_FLAGS = frozenset(FLAGS)  # absl's own (--verbosity, --logtostderr, ...).


@dataclasses.dataclass
class Done:
  """What a finished command left: like subprocess.CompletedProcess."""
  returncode: int
  stdout: str
  stderr: str


def _delete_flags() -> None:
  """Forgets every flag that a command or experiment defined (absl's own stay)."""
  for name in [n for n in FLAGS if n not in _BUILTIN_FLAGS]:
    delattr(FLAGS, name)


def _reset_flags(module) -> None:
  from jaxstyle.cli import common  # pylint: disable=import-outside-toplevel
  _delete_flags()
  common.define_common_flags()
  module._define_flags()  # pylint: disable=protected-access


def _exit_status(e: SystemExit) -> int:
  return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


def run_main(module: str, *args: str) -> Done:
  """Runs `python -m module args` in this process (`module`: a jaxstyle.cli command, or
  `jaxstyle.stylize` / `jaxstyle.weights` for theirs); returns its exit status and what
  it printed. A flag that absl refuses ends as `app.run` ends it: status 1 and a
  "FATAL Flags parsing error" line."""
  module = {"jaxstyle.stylize": "jaxstyle.cli.stylize",
            "jaxstyle.weights": "jaxstyle.cli.weights"}.get(module, module)
  command = importlib.import_module(module)
  _reset_flags(command)
  out, err = io.StringIO(), io.StringIO()
  sigterm = signal.getsignal(signal.SIGTERM)
  code = 0
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      argv = FLAGS([module, *args])
      command.main(argv)
    except flags.Error as e:
      print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
      code = 1
    except SystemExit as e:
      code = _exit_status(e)
    finally:
      signal.signal(signal.SIGTERM, sigterm)
      _delete_flags()
  return Done(code, out.getvalue(), err.getvalue())


def run_script(module: str, *args: str) -> Done:
  """Runs `python -m module args` in this process as its own `__main__` (runpy): for
  the experiments, which define flags when run and call `app.run`. Their log lines go
  where absl sends them, not into `Done.stderr`; their `error:` lines are in it."""
  _delete_flags()
  out, err = io.StringIO(), io.StringIO()
  argv, sys.argv = sys.argv, [module, *args]
  code = 0
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      runpy.run_module(module, run_name="__main__", alter_sys=False)
    except SystemExit as e:
      code = _exit_status(e)
    finally:
      sys.argv = argv
      _delete_flags()
  return Done(code, out.getvalue(), err.getvalue())


def run_subprocess(module: str, *args: str, env: dict | None = None,
                   timeout: float = 600) -> subprocess.CompletedProcess:
  """Runs `python -m module args` as a new process on the CPU backend."""
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu", **(env or {})}
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                        text=True, cwd=ROOT, env=env, timeout=timeout, check=False)


def fails_cleanly(done, message: str) -> None:
  """A non-zero exit, no traceback, and `message` in the last line of stderr."""
  assert done.returncode != 0
  assert "Traceback" not in done.stderr, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert message in last, done.stderr
