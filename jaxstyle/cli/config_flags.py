"""Flags made from a config's fields, --config, and the config read back from them.

Every field of `StylizeConfig` is a flag of the same name (`FLAG_OF` renames two that
users of neural-style know by other names), with the field's help, its choices and its
default (`CLI_DEFAULTS` where a command needs another: an output size). A test checks
that flags and fields are the same set with the same defaults, so a new field is a new
flag without a line here.

--config=FILE takes (ml_collections' conventions) a Python file whose `get_config()`
returns a `StylizeConfig`, with --config.GROUP.FIELD=VALUE overriding a field, or a
recorded run (a --metrics_json file): its config, and its input files unless others are
given, each checked against the sha256 the record holds, so that the rerun makes the
same images. Precedence: the config (or --preset) < --config.GROUP.FIELD < the flat
flags given.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import pathlib
import re
from typing import Any

from absl import flags

from jaxstyle.errors import UserError
from jaxstyle.gatys import config as config_lib
from jaxstyle.weights import file_sha256

FLAGS = flags.FLAGS

# Fields whose flag has another name.
FLAG_OF = {"weights_file": "weights", "callback_every": "save_every"}
# Fields whose flag default differs from the field's: a command has files, not arrays,
# and must choose their size.
CLI_DEFAULTS = {"image_size": 512}
# Fields whose flag is free text although the field has choices: --init=PATH.
_TEXT = {"init": "or PATH of an image (the config says init='image')."}
_SWEEP_HELP = (" A comma list sweeps it (e.g. 1e-4,1e-3,1e-2): every combination of the "
               "swept weights, crossed with --num_seeds, runs as one program; "
               "OUTPUT_sw1e-04.png per point (OUTPUT_sw1e-04_seedN.png with seeds) and "
               "OUTPUT_sheet.png.")


class WeightsParser(flags.ArgumentParser):
  """A non-negative number, or a comma-separated list of them (a sweep)."""

  def parse(self, argument):
    if isinstance(argument, str):
      values = argument.split(",")
    elif isinstance(argument, (list, tuple)):
      values = argument
    else:  # A default or a preset's number.
      values = [argument]
    try:
      numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
      raise ValueError(f"must be a number or comma-separated numbers, got {argument!r}"
                       ) from None
    if not numbers or not all(math.isfinite(v) and v >= 0 for v in numbers):
      raise ValueError(f"must be non-negative finite numbers, got {argument!r}")
    return numbers[0] if len(numbers) == 1 else numbers

  def flag_type(self):
    return "number or comma-separated numbers"


class _WeightsSerializer(flags.ArgumentSerializer):

  def serialize(self, value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def fields() -> list[tuple[str, dataclasses.Field]]:
  """(flag name, field) of every field of `StylizeConfig`, in the tree's order."""
  return [(FLAG_OF.get(f.name, f.name), f)
          for group in dataclasses.fields(config_lib.StylizeConfig)
          for f in dataclasses.fields(getattr(config_lib.StylizeConfig(), group.name))]


def dotted(field: dataclasses.Field) -> str:
  """The --config override flag of a field: "config.objective.style_weight"."""
  return f"config.{config_lib.group_of(field.name)}.{field.name}"


def define_flags() -> None:
  """One flag per config field (those another module defined first, e.g. --kernels and
  --precision of every command, are kept: a test checks they agree)."""
  for name, field in fields():
    if name in FLAGS:
      continue
    default = CLI_DEFAULTS.get(field.name, field.default)
    kind, help_text = str(field.type), field.metadata["help"]
    choices = field.metadata.get("choices")
    if kind.startswith("Weight"):
      flags.DEFINE(WeightsParser(), name, default, help_text + _SWEEP_HELP,
                   serializer=_WeightsSerializer())
    elif field.name in _TEXT:
      flags.DEFINE_string(name, default, f"{help_text} {_TEXT[field.name]}")
    elif choices is not None:
      none = ["none"] if config_lib.optional(field) else []
      flags.DEFINE_enum(name, default, [*choices, *none], help_text)
    elif kind.startswith("tuple"):
      flags.DEFINE_list(name, default, help_text + " Comma-separated.")
    elif kind.startswith("bool"):
      flags.DEFINE_boolean(name, default, help_text)
    elif kind.startswith("int"):
      flags.DEFINE_integer(name, default, help_text)
    elif kind.startswith("float"):
      flags.DEFINE_float(name, default, help_text)
    elif kind.startswith("str"):
      flags.DEFINE_string(name, default, help_text)
    else:
      raise TypeError(f"no flag for the field {field.name}: {kind}")
  flags.DEFINE_string(
      "config", None, "A config: a Python file whose get_config() returns a "
      "jaxstyle.StylizeConfig (--config.GROUP.FIELD=VALUE overrides a field, e.g. "
      "--config.objective.style_weight=1e-2), or a recorded run (a --metrics_json file): "
      "its settings and its input files (unless --content/--style are given), refused if "
      "a file changed since (sha256), so that it makes the same images. Flags given "
      "explicitly override it. Not with --preset.")
  for name, field in fields():  # --config.GROUP.FIELD, parsed as --NAME is.
    flags.DEFINE(FLAGS[name].parser, dotted(field), None,
                 f"--config's {field.name}, parsed as --{name}.")


def values(*, given_only: bool) -> dict[str, Any]:
  """{field: flag value}: the --config.GROUP.FIELD overrides given, then every config
  field's flag (given_only: only those given on the command line) over them;
  --init=PATH as init="image"."""
  out = {}
  for _, field in fields():
    if FLAGS[dotted(field)].present:
      out[field.name] = FLAGS[dotted(field)].value
  for name, field in fields():
    if not given_only or FLAGS[name].present:
      out[field.name] = FLAGS[name].value
  if out.get("init", "auto") not in config_lib.INITS:
    out["init"] = "image"
  return out


def flag_error(error: Exception) -> UserError:
  """A setting's ValueError as the CLI's one line, naming the flag."""
  text = str(error)
  name = re.match(r"\w+", text)
  return UserError(f"--{text}" if name and name.group() in config_lib.FLAT_FIELDS else text)


def load(path: str) -> tuple[config_lib.StylizeConfig, dict | None]:
  """--config's file: (its config, the recorded run or None for a Python file)."""
  file = pathlib.Path(path)
  if not file.is_file():
    raise UserError(f"--config {path}: no such file")
  if file.suffix == ".py":
    spec = importlib.util.spec_from_file_location(f"_jaxstyle_config_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
      spec.loader.exec_module(module)
      if not callable(getattr(module, "get_config", None)):
        raise UserError(f"--config {path} has no get_config()")
      config = module.get_config()
    except UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except  # The user's file.
      raise UserError(f"--config {path} failed: {type(e).__name__}: {e}") from None
    if not isinstance(config, config_lib.StylizeConfig):
      raise UserError(f"--config {path}: get_config() returned a {type(config).__name__}, "
                      "not a jaxstyle.StylizeConfig")
    return config, None
  try:
    record = json.loads(file.read_text())
    return config_lib.StylizeConfig.from_dict(record["config"]), record
  except (ValueError, KeyError, TypeError) as e:
    raise UserError(f"--config {path} is neither a Python config file (.py) nor a "
                    f"recorded run's JSON with a valid \"config\" ({e})") from None


def check_recorded(record: dict, used: dict[str, str]) -> None:
  """Refuses (UserError) an input of a rerun whose sha256 is not the recorded one:
  `used` maps each file the rerun reads to its role ("the content photo", ...)."""
  recorded = record.get("inputs", {}).get("sha256", {})
  for path, role in used.items():
    want = recorded.get(str(path))
    if want is None:
      raise UserError(f"{role} {path} is not the recorded run's (it read "
                      f"{', '.join(recorded) or 'no recorded files'}): give the recorded "
                      "files, or use the config without --config's record")
    if file_sha256(path) != want:
      raise UserError(f"{role} {path} changed since the recorded run (sha256 differs): "
                      "the rerun would not make the same images")
