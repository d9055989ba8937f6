"""Stylizing image files one by one, for the commands that take a directory or a glob
(`jaxstyle-fast`, `jaxstyle-arbitrary`): a file that cannot be read is reported and
skipped, the others are written, and the report says how long each image took."""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Callable, Sequence

import numpy as np
from absl import logging

from jaxstyle import images as images_lib
from jaxstyle.errors import UserError


@dataclasses.dataclass
class FilesReport:
  """What `stylize_files` did: written outputs, failures (path, reason), timings."""

  written: list[pathlib.Path]
  failed: list[tuple[pathlib.Path, str]]
  ms: list[float]             # per image, network only, excluding each size's first call
  first_call_ms: list[float]  # first call at each new size (includes compilation)


def list_inputs(path: str | pathlib.Path) -> list[pathlib.Path]:
  """The image files of a directory (not recursive, sorted) or a glob, or [path]."""
  files = images_lib.list_images(path)
  if len(files) == 1 and not files[0].exists():
    raise UserError(f"{files[0]}: no such file or directory")
  return files


def stylize_files(inputs: Sequence[pathlib.Path], outputs: Sequence[pathlib.Path],
                  stylize: Callable[[np.ndarray], np.ndarray], *,
                  image_size: int | None = None) -> FilesReport:
  """Writes `stylize(image)` of each input (loaded at `image_size`, None: as it is) to the
  matching output; inputs that cannot be read are logged, reported and skipped."""
  report = FilesReport([], [], [], [])
  seen_shapes = set()
  for src, dst in zip(inputs, outputs):
    try:
      image = images_lib.load_image(src, image_size)
    except UserError as e:
      logging.warning("skipping %s", e)
      report.failed.append((pathlib.Path(src), str(e)))
      continue
    t0 = time.perf_counter()
    out = stylize(image)
    ms = (time.perf_counter() - t0) * 1000
    (report.ms if out.shape in seen_shapes else report.first_call_ms).append(ms)
    seen_shapes.add(out.shape)
    report.written.append(images_lib.save_image(out, dst))
    logging.info("%s -> %s (%dx%d px, %.0f ms)", src, dst, out.shape[1], out.shape[0], ms)
  return report
