"""The feed-forward network as a trained model: the module with the chosen kernels,
running it, and model files (one msgpack blob holding the network's config, its
variables (params, and batch_stats for batch norm) and free-form metadata)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Mapping

import jax
import numpy as np
from flax import serialization

from jaxstyle import kernels as kernels_lib
from jaxstyle import precision as precision_lib
from jaxstyle._atomic import write_or_keep
from jaxstyle.errors import UserError
from jaxstyle.kernels import johnson_cpu
from jaxstyle.nets.johnson import ImageTransformConfig, ImageTransformNet, init_variables

MODEL_FORMAT = "jaxstyle.transformer/2"  # 2: the scaled tanh output. (The name is historic.)
_OLD_FORMAT = "jaxstyle.transformer/1"



def network(config: ImageTransformConfig, *, kernels: str = "auto",
            precision: str = "float32") -> ImageTransformNet:
  """The module with the convolutions `kernels` resolves to (see jaxstyle.kernels)."""
  precision_lib.check(precision)
  if kernels_lib.resolve(kernels) == "cpu":
    return ImageTransformNet(config, conv=johnson_cpu.ReflectConv, precision=precision)
  return ImageTransformNet(config, precision=precision)


def apply(config: ImageTransformConfig, variables: Mapping[str, Any], images: jax.Array, *,
          train: bool = False, kernels: str = "auto", precision: str = "float32"
          ) -> tuple[jax.Array, dict]:
  """Runs the network; returns (images, variables with updated batch statistics).

  In training, batch norm normalizes with the batch's statistics and updates the
  running averages; otherwise (and for instance norm always) `variables` come back as is.
  """
  model = network(config, kernels=kernels, precision=precision)
  if train and "batch_stats" in variables:
    out, updates = model.apply(dict(variables), images, train=True, mutable=["batch_stats"])
    return out, dict(variables, **updates)
  return model.apply(dict(variables), images, train=train), dict(variables)


def apply_train(config: ImageTransformConfig, variables: Mapping[str, Any],
                images: jax.Array, *, kernels: str = "auto", precision: str = "float32"
                ) -> tuple[jax.Array, jax.Array, dict]:
  """`apply` in training mode; returns (images, the tanh's inputs, variables)."""
  model = network(config, kernels=kernels, precision=precision)
  if "batch_stats" in variables:
    (out, z), updates = model.apply(dict(variables), images, train=True, logits=True,
                                    mutable=["batch_stats"])
    return out, z, dict(variables, **updates)
  out, z = model.apply(dict(variables), images, train=True, logits=True)
  return out, z, dict(variables)



@dataclasses.dataclass(frozen=True)
class FastModel:
  """A trained network: its config, variables (float32) and metadata (style, training)."""

  config: ImageTransformConfig
  variables: dict
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def save_model(model: FastModel, path: str | os.PathLike, *, dtype: str = "float32") -> int:
  """Writes `model` atomically (variables stored as `dtype`); returns the file size.

  Raises:
    OutputError: `path` could not be written; the model was kept in the system's
      temporary directory instead, where the message says.
  """
  if dtype not in ("float32", "float16"):
    raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
  arrays = jax.tree_util.tree_map(lambda v: np.asarray(v, dtype), model.variables)
  blob = serialization.msgpack_serialize({
      "format": MODEL_FORMAT, "config": model.config.to_json(),
      "meta": json.dumps(dict(model.meta), sort_keys=True, default=str),
      "variables": arrays})
  write_or_keep(path, lambda tmp: pathlib.Path(tmp).write_bytes(blob), what="the model")
  return len(blob)


def load_model(path: str | os.PathLike) -> FastModel:
  """Reads a model file written by `save_model` (variables as float32).

  Raises:
    UserError: missing file, not a model file, or variables that do not fit the config.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f"model file {path} does not exist")
  try:
    raw = serialization.msgpack_restore(path.read_bytes())
    fmt = raw.get("format")
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"{path} is not a jaxstyle fast-style model ({e})") from None
  if fmt == _OLD_FORMAT:
    raise UserError(f"{path} was written by an older jaxstyle (its output tanh spans "
                    "exactly [0, 1], since replaced by Johnson et al.'s scaled tanh): "
                    "retrain it with jaxstyle-train-fast")
  try:
    if fmt != MODEL_FORMAT:
      raise ValueError(f"format {fmt!r}")
    config = ImageTransformConfig.from_json(raw["config"])
    meta = json.loads(raw["meta"])
  except Exception as e:  # msgpack, JSON and key errors all mean the same here.
    raise UserError(f"{path} is not a jaxstyle fast-style model ({e})") from None
  template = init_variables(config)
  loaded = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float32), raw["variables"])
  want = {jax.tree_util.keystr(k): v.shape
          for k, v in jax.tree_util.tree_leaves_with_path(template)}
  got = {jax.tree_util.keystr(k): np.shape(v)
         for k, v in jax.tree_util.tree_leaves_with_path(loaded)}
  if want != got:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    raise UserError(f"{path}: variables do not match its config (missing {missing[:3]}, "
                    f"unexpected {extra[:3]}, mis-shaped {wrong[:3]})")
  return FastModel(config=config, variables=loaded, meta=meta)
