r"""Regenerates the paper's figures at the paper's sizes, resumably.

  python -m experiments.all --dry_run                 # what would run, and what is done
  python -m experiments.all --size=512                # all of FIGURES: several CPU-hours on 2 cores
  python -m experiments.all --only=artworks,initialization
  python -m experiments.all --only=artworks/ratio_1e-5      # one variant of an experiment

Each figure is its experiment app (`python -m experiments.NAME`), run as a subprocess
with the flags of FIGURES: the paper's figures (Figures 1, 3, 6 and 7) at --size with
their step counts, the ablations (Figure 4's ratio grid, Figure 5's content layer,
pooling, style layers, optimizers, iterations) at half of it. The experiments use the
paper's network and formulas (`experiments.common.paper`, the gatys2016 preset). When
one finishes, its command line goes to OUTPUT_DIR/all.json; a rerun skips every figure
whose recorded command line is the one it would run and whose JSON is there, so an
interrupted regeneration continues with the figure it stopped in (a figure is written
only when it is complete). A changed --size, step count or flag reruns that figure; a
changed experiment's code does not (delete its entry in all.json to rerun it).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
import time
from typing import Callable, Sequence

from absl import app, flags, logging

from jaxstyle._atomic import atomic_path

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """Only when run: importing this module (tests) must not define flags that other
  modules' apps define too."""
  flags.DEFINE_integer("size", 512, "Longer side of the paper's figures, px (the "
                       "ablations get half).", lower_bound=32)
  flags.DEFINE_list("only", None, "Regenerate only these figures (names of FIGURES).")
  flags.DEFINE_bool("dry_run", False, "List the figures, their commands and whether they "
                    "are done; run nothing.")
  flags.DEFINE_string("output_dir", "experiments/results", "Where the figures go.")


@dataclasses.dataclass(frozen=True)
class Figure:
  name: str          # experiments/NAME.py; writes NAME.json and its figure.
  scale: float       # Its size as a fraction of --size.
  flags: tuple[str, ...] = ()
  # A second run of one experiment with other flags: it writes into OUTPUT_DIR/VARIANT/
  # and is recorded (and chosen by --only) as NAME/VARIANT.
  variant: str = ""

  @property
  def key(self) -> str:
    return f"{self.name}/{self.variant}" if self.variant else self.name

  def output_dir(self, root: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(root) / self.variant if self.variant else pathlib.Path(root)


FIGURES = (
    # Figure 1: 500 steps in all, 250 at 256 px then 250 at 512 (its last panel also at one
    # scale, 500 steps, beside).
    Figure("reconstructions", 1.0, ("--scales=2", "--num_steps=250", "--finer_steps=250")),
    Figure("artworks", 1.0, ("--num_steps=500",)),          # Figure 3
    # Figure 3 at alpha/beta 1e-5 too: at 512 px the paper's 1e-3 leaves the photo under
    # speckle (the size effect); two decades lower shows the paper's look.
    Figure("artworks", 1.0, ("--num_steps=500", "--ratio=1e-5"), variant="ratio_1e-5"),
    # Figure 3 with the authors' released code's conventions (its own size: 512 px on the
    # shorter side, 500 L-BFGS steps from the photo; `python -m jaxstyle.weights
    # normalize --pooling=max` first).
    Figure("artworks", 1.0, ("--preset=gatys2016_code",), variant="gatys2016_code"),
    Figure("initialization", 1.0, ("--num_steps=500",)),    # Figure 6
    # Figure 7; alpha/beta 1e-4 and 1e-5 too: at 512 px the paper's formulas weigh the
    # content 16x more than at 128 px, where the night shows at 1e-3..1e-4.
    Figure("photorealistic", 1.0, ("--num_steps=1000", "--ratios=1e-2,1e-4,1e-5")),
    Figure("ratio_grid", 0.5),                               # Figure 4 (its 150 steps)
    Figure("content_layer", 0.5),                            # Figure 5
    Figure("pooling", 0.5),
    Figure("style_layers", 0.5),
    Figure("optimizers", 0.5),
    Figure("iterations", 0.5),
)


def command(figure: Figure, *, size: int, output_dir: str) -> list[str]:
  """The experiment's command line (without the interpreter)."""
  return ["-m", f"experiments.{figure.name}", f"--image_size={round(size * figure.scale)}",
          *figure.flags, f"--output_dir={figure.output_dir(output_dir)}"]


def _read(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return {}


def is_done(figure: Figure, argv: Sequence[str], output_dir: pathlib.Path,
            record: dict) -> bool:
  return (record.get(figure.key, {}).get("command") == list(argv)
          and (figure.output_dir(output_dir) / f"{figure.name}.json").is_file())


def _subprocess(argv: Sequence[str]) -> int:
  return subprocess.call([sys.executable, *argv])


def run_all(figures: Sequence[Figure], *, size: int, output_dir: str | pathlib.Path,
            runner: Callable[[Sequence[str]], int] = _subprocess, dry_run: bool = False
            ) -> tuple[list[str], list[str]]:
  """Runs the figures not done yet; returns (the names run now, the names that failed)."""
  out = pathlib.Path(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  record_path = out / "all.json"
  record = _read(record_path)
  ran, failed = [], []
  todo = [f for f in figures
          if not is_done(f, command(f, size=size, output_dir=str(out)), out, record)]
  for f in figures:
    argv = command(f, size=size, output_dir=str(out))
    logging.info("%-26s %-7s python %s", f.key, "to run" if f in todo else "done",
                 " ".join(argv))
  if dry_run:
    return ran, failed
  for k, figure in enumerate(todo):
    argv = command(figure, size=size, output_dir=str(out))
    logging.info("[%d/%d] %s: python %s", k + 1, len(todo), figure.key, " ".join(argv))
    started = time.time()
    status = runner(argv)
    seconds = time.time() - started
    if status != 0 or not (figure.output_dir(out) / f"{figure.name}.json").is_file():
      logging.error("%s failed (exit status %d) after %.0f s; continuing (a rerun "
                    "retries it)", figure.key, status, seconds)
      failed.append(figure.key)
      continue
    record = _read(record_path)  # Re-read: another run may have added to it.
    record[figure.key] = {"command": list(argv), "seconds": seconds,
                          "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    with atomic_path(record_path) as tmp:
      pathlib.Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    ran.append(figure.key)
    logging.info("%s done in %.1f min", figure.key, seconds / 60)
  return ran, failed


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  names = {f.name for f in FIGURES} | {f.key for f in FIGURES}
  unknown = sorted(set(FLAGS.only or ()) - names)
  if unknown:
    print(f"error: unknown figures {', '.join(unknown)}; choose from "
          f"{', '.join(f.key for f in FIGURES)}", file=sys.stderr)
    sys.exit(1)
  # --only=NAME chooses the experiment's variants too; NAME/VARIANT only that one.
  figures = [f for f in FIGURES if not FLAGS.only or {f.name, f.key} & set(FLAGS.only)]
  _, failed = run_all(figures, size=FLAGS.size, output_dir=FLAGS.output_dir,
                      dry_run=FLAGS.dry_run)
  if failed:
    print(f"error: {len(failed)} figure(s) failed: {', '.join(failed)}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
