"""What every absl command of jaxstyle shares: one `error:` line for a user's mistake,
the persistent compilation cache (--compilation_cache), the kernels (--kernels) and
the precision (--precision).

Flags are defined by `define_common_flags`, called from each command's own flag
definitions, never at import.
"""

from __future__ import annotations

import logging as python_logging
import math
import os
import pathlib
import sys
from typing import Callable, Iterable

import numpy as np
from absl import app, flags, logging

from jaxstyle import _atomic, cache, kernels, precision, signals
from jaxstyle import images as images_lib
from jaxstyle.errors import Interrupted, UserError

FLAGS = flags.FLAGS


def define_common_flags() -> None:
  """--compilation_cache, --kernels and --precision (once, whichever command asks first)."""
  if "compilation_cache" in FLAGS:
    return
  flags.DEFINE_string(
      "compilation_cache", cache.default_directory(),
      "Directory of JAX's persistent compilation cache: a run that finds its programs "
      "there skips compiling them (seconds on a CPU). Empty: no cache. Default: "
      "$JAXSTYLE_CACHE, else ~/.cache/jaxstyle/xla.")
  flags.DEFINE_enum(
      "kernels", "auto", list(kernels.KERNELS),
      "Convolution implementations: 'xla' (plain XLA; cuDNN / TPU matrix units), 'cpu' "
      "(hand-tuned for XLA:CPU), 'auto' (cpu on the CPU backend, xla elsewhere).")
  flags.DEFINE_enum(
      "precision", "float32", list(precision.PRECISIONS),
      "Convolution precision of the networks: float32 (float32 on every backend), "
      "tensorfloat32 (TF32 on NVIDIA GPUs, 3 bfloat16 passes on TPUs), bfloat16 (explicit "
      "casts). Gram matrices and losses stay float32.")


def check_finite(*names: str) -> None:
  """Raises UserError if a float flag among `names` is NaN or infinite (absl's
  lower_bound lets NaN through)."""
  for name in names:
    value = FLAGS[name].value
    if value is not None and not math.isfinite(value):
      raise UserError(f"--{name} must be a finite number, got {value}")


def check_positive(*names: str) -> None:
  """Raises UserError if a number flag among `names` is zero or negative (a learning
  rate of -1 would climb the loss)."""
  for name in names:
    value = FLAGS[name].value
    if value is not None and not value > 0:
      raise UserError(f"--{name} must be positive, got {value:g}")


def refuse_overwriting_inputs(outputs: Iterable[str | os.PathLike],
                              inputs: Iterable[str | os.PathLike | None]) -> None:
  """Raises UserError if an output path is one of the input files."""
  existing = {}
  for path in inputs:
    if path is not None and pathlib.Path(path).is_file():
      existing[pathlib.Path(path).resolve()] = path
  for out in outputs:
    resolved = pathlib.Path(out).resolve()
    if resolved in existing:
      raise UserError(f"the output {out} is the input {existing[resolved]}: choose another "
                      "output path (nothing was written)")


def refuse_unwritable(outputs: Iterable[str | os.PathLike]) -> None:
  """Raises UserError if an output could not be created: its folder (or the nearest
  existing folder above it, where the command would make the rest) is a file or allows
  no new file (/proc, a read-only disk), or the output is a directory. Made before any
  work, so that a run does not end by failing to write its result."""
  folders: dict[pathlib.Path, str | None] = {}  # One try per folder (video frames).
  for out in outputs:
    path = pathlib.Path(os.path.abspath(out))
    if path.parent not in folders or path.is_dir():
      folders[path.parent] = _atomic.unwritable(path)
    problem = folders[path.parent]
    if problem is not None:
      raise UserError(f"cannot write {out}: {problem}; choose another output path "
                      "(nothing was done)")


def check_outputs(outputs: Iterable[str | os.PathLike],
                  inputs: Iterable[str | os.PathLike | None]) -> None:
  """What every command checks of its outputs before any work: none is an input
  (`refuse_overwriting_inputs`), each can be written (`refuse_unwritable`)."""
  outputs = list(outputs)
  refuse_overwriting_inputs(outputs, inputs)
  refuse_unwritable(outputs)


def file_outputs(content: str, output: str, ext: str, inputs: list[pathlib.Path]
                 ) -> list[pathlib.Path]:
  """The output path of each input of a command that stylizes files: --output itself
  for one --content file; OUTPUT/NAME.EXT for each image of a --content directory.

  Raises:
    UserError: --output is a file for a directory, an output's suffix is not an image
      format, or two inputs would write the same output (a.png and a.jpg -> a.jpg).
  """
  if pathlib.Path(content).is_dir():
    out_dir = pathlib.Path(output)
    if out_dir.exists() and not out_dir.is_dir():
      raise UserError(f"--output {out_dir} must be a directory when --content is one")
    ext = ext if ext.startswith(".") else "." + ext
    outputs = [out_dir / (p.stem + ext) for p in inputs]
  else:
    outputs = [pathlib.Path(output)]
  for o in outputs:
    if o.suffix.lower() not in images_lib.IMAGE_SUFFIXES:
      raise UserError(f"--output {o} must end in one of {', '.join(images_lib.IMAGE_SUFFIXES)}")
  seen: dict[pathlib.Path, pathlib.Path] = {}
  for src, dst in zip(inputs, outputs):
    if dst in seen:
      raise UserError(f"{seen[dst]} and {src} would both be written to {dst}: rename one "
                      "(nothing was written)")
    seen[dst] = src
  return outputs


def print_files_report(report) -> None:
  """The closing lines of a command that stylized files (a `file_batch.FilesReport`):
  counts, ms per image, the failures; UserError if nothing was written."""
  if report.ms:
    timing = (f"{np.median(report.ms):.0f} ms per image (median of {len(report.ms)}, after "
              f"compilation; the first at each size took {np.median(report.first_call_ms):.0f}"
              " ms with compilation)")
  else:
    timing = (f"{np.median(report.first_call_ms):.0f} ms per image including compilation "
              "(the first call at each size compiles; images of equal size reuse it)"
              if report.first_call_ms else "no image")
  print(f"{len(report.written)} stylized, {len(report.failed)} failed; {timing}")
  for _, reason in report.failed:
    print(f"  failed: {reason}")
  if not report.written:
    raise UserError("no image could be stylized")


def main_for(run: Callable[[], None], *, interrupted: str = "interrupted"
             ) -> Callable[[list[str]], None]:
  """An absl `main(argv)` that runs `run()` and turns user errors into one line.

  UserError, running out of host or device memory, Ctrl-C and SIGTERM end with a
  message on stderr and a non-zero exit status instead of a traceback; other
  exceptions (bugs) keep theirs. SIGTERM (what `timeout`, batch schedulers and
  preemptible VMs send) is handled like Ctrl-C: the library stops the optimization,
  the command saves what it has and raises Interrupted; exit status 130 for SIGINT,
  143 for SIGTERM.
  """

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    plain_logs()
    if FLAGS.compilation_cache:
      cache.enable_compilation_cache(FLAGS.compilation_cache)
    signals.terminate_as_interrupt()
    try:
      run()
    except Interrupted as e:
      print(f"interrupted: {e}", file=sys.stderr)
      sys.exit(signals.exit_status())
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
      sys.exit(signals.exit_status())

  return main


class _PlainFormatter(python_logging.Formatter):
  """Progress lines as they are; warnings and errors named as such."""

  def format(self, record):
    message = record.getMessage()
    if record.levelno >= python_logging.ERROR:
      return f"error: {message}"
    if record.levelno >= python_logging.WARNING:
      return f"warning: {message}"
    return message


def plain_logs() -> None:
  """What a user's terminal shows: jaxstyle's progress lines and warnings without
  absl's prefixes, and no INFO lines of JAX itself (its probing for TPU and GPU
  backends). --verbosity=1 (or more) keeps absl's prefixes and JAX's lines."""
  if FLAGS["verbosity"].value >= 1:
    return
  logging.set_verbosity(logging.INFO)  # Progress lines are INFO.
  logging.get_absl_handler().setFormatter(_PlainFormatter())
  python_logging.getLogger("jax").setLevel(python_logging.WARNING)


def _declare_help(define: Callable[[], None], doc_module: str) -> None:
  """Makes --help list the flags `define()` adds (absl lists the main module's key
  flags, and a console script's main module defines none) and print the command
  module's docstring as its description."""
  before = set(FLAGS)
  define()
  for name in sorted(set(FLAGS) - before):
    if "." not in name:  # --config.GROUP.FIELD overrides: in --helpfull only.
      FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
  doc = sys.modules[doc_module].__doc__
  main_module = sys.modules.get("__main__")
  if doc and main_module is not None and not getattr(main_module, "__doc__", None):
    main_module.__doc__ = doc


def entry_point(define_flags: Callable[[], None], run: Callable[[], None], *,
                interrupted: str = "interrupted") -> tuple[Callable[[list[str]], None],
                                                           Callable[[], None]]:
  """(main, console-script entry point) of a command: `main_for(run)`, and a function
  that defines the common and the command's flags and runs `main` under absl; its
  --help lists them with the command module's docstring."""
  main = main_for(run, interrupted=interrupted)

  def entry():
    _declare_help(lambda: (define_common_flags(), define_flags()), define_flags.__module__)
    app.run(main)

  return main, entry
