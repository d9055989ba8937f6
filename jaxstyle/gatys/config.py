"""`StylizeConfig`: every setting of a Gatys run, one frozen, typed tree.

  config = StylizeConfig()                          # the defaults
  config = config.replace(num_steps=300, style_weight=(1e-4, 1e-3))   # flat names
  config.solver.num_steps                           # 300
  StylizeConfig.from_dict(config.to_dict()) == config

The tree's groups say what a setting is about: `objective` (what is matched and how
strongly), `solver` (the pixel optimizer), `schedule` (coarse-to-fine), `images` (sizes
and the style images' scale, rotation and colors), `start` (the starting image and the
seeds), `backend` (kernels, precision, devices) and `progress` (logging and the
callback). Every field has a name unique across the tree (its flat name: a test checks
this), so `stylize(content, style, num_steps=300)` and `--num_steps=300` reach the same
field through one mapping (`FLAT_FIELDS`).

Each group checks its fields where it is built (`__post_init__`), with
`jaxstyle.checks`, against the tables of the library (`optimize.METHODS`,
`losses.STYLE_LOSSES`, `features.NETWORKS`, ...); checks across groups are in
`StylizeConfig.__post_init__`. Checks that need the images (how many styles, masks,
the size of the coarsest scale) run in `stylize`. Sequences become tuples, so a config
is hashable and compares by value; values read from flags (lists of strings) or JSON
(lists) are converted by the same code.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxstyle import color, features, images, kernels, precision
from jaxstyle.checks import in_range, one_of
from jaxstyle.gatys import optimize
from jaxstyle.gatys.objective import (DEFAULT_CONTENT_NORMALIZATION, DEFAULT_HISTOGRAM_WEIGHT,
                                      ObjectiveConfig, default_style_weight)

# "arbitrary": the content stylized with the first style by the arbitrary-style network
# (Ghiasi et al. 2017, `jaxstyle.arbitrary`), the optimization refining its output.
# "auto": the content photo for one seed (no white-noise speckle, the PyTorch tools'
# start), white noise for several (seeds only differ from noise). "image": an image
# given to `stylize` (init=array; the CLI's --init=PATH).
INITS = ("auto", "noise", "content", "style", "arbitrary", "image")
# Coarse-to-fine by default: the coarsest scale about this many pixels on its longer side.
AUTO_SCALES_SIZE = 256
# The weights a sweep may vary (a sequence of values each), and their short names in
# file names and labels ("out_sw1e-04.png").
SWEEPABLE = {"content_weight": "cw", "style_weight": "sw", "tv_weight": "tv"}

Weight = float | tuple[float, ...]  # A number, or a sweep's values.
_NUMBERS = (int, float, np.number)


def _tuple(name: str, values: Any, kind: type, *, optional: bool = True) -> tuple | None:
  """`values` (a sequence; from a flag, strings) as a tuple of `kind`, or None."""
  if values is None and optional:
    return None
  if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
    raise ValueError(f"{name} must be a sequence, got {values!r}")
  given = ",".join(map(str, values))
  try:
    out = tuple(kind(v) for v in values)
  except (TypeError, ValueError):
    what = {float: "numbers", int: "integers", str: "names"}[kind]
    raise ValueError(f"{name} must be comma-separated {what}, got {given}") from None
  if kind is float and not all(math.isfinite(v) for v in out):
    raise ValueError(f"{name} must be finite numbers, got {given}")
  return out


def _number(value: Any) -> Any:
  """A number given as a string (a flag's text) as a float; anything else unchanged."""
  if isinstance(value, str):
    try:
      return float(value)
    except ValueError:
      return value
  return value


def _weight(name: str, value: Any, *, optional: bool = False) -> Weight | None:
  """A non-negative number, or a sweep: a tuple of distinct ones."""
  value = _number(value)
  if value is None and optional:
    return None
  if isinstance(value, _NUMBERS):
    return float(in_range(name, value, 0))
  values = _tuple(name, value, float, optional=False)
  if not values:
    raise ValueError(f"{name}: an empty sweep")
  if len(set(values)) != len(values):
    raise ValueError(f"{name}: the sweep {values} repeats a value")
  for v in values:
    in_range(name, v, 0)
  return values[0] if len(values) == 1 else values


def _set(obj, name: str, value) -> None:
  object.__setattr__(obj, name, value)


def sweep_points(**values) -> list[dict[str, float]] | None:
  """The points of a weight sweep: `values` maps SWEEPABLE names to a number or a
  sequence of numbers; the points are every combination of the sequences' values (the
  first name varying slowest), each a dict of the swept names only. None: no sequence
  given (a single run)."""
  swept = {}
  for name, value in values.items():
    if name not in SWEEPABLE:
      raise ValueError(f"only {', '.join(SWEEPABLE)} can be swept, not {name}")
    if value is not None and not isinstance(value, _NUMBERS):
      value = _weight(name, value)
      swept[name] = value if isinstance(value, tuple) else (value,)
  if not swept:
    return None
  points = [{}]
  for name, value in swept.items():
    points = [dict(p, **{name: v}) for p in points for v in value]
  return points


def format_number(value: float) -> str:
  """1e-4 -> "1e-04", 2.5e-3 -> "2.5e-03": short, exact to 7 digits, file-name safe."""
  mantissa, exponent = f"{value:.6e}".split("e")
  return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def point_label(point: dict[str, float], sep: str = "") -> str:
  """A sweep point's short name: {"style_weight": 1e-4} -> "sw1e-04" (sep " ":
  "sw 1e-04")."""
  return "_".join(f"{SWEEPABLE[k]}{sep}{format_number(v)}" for k, v in point.items())


def auto_scales(height: int, width: int, *, factor: float = 2.0,
                coarsest_size: int | None = None) -> int:
  """scales=None's choice. Without coarsest_size: halvings from the full size down to
  about AUTO_SCALES_SIZE px on the longer side (1 up to 511 px, 2 from 512, 3 from
  1024, ...). With it: every size full / factor^k whose longer side is at least
  coarsest_size (crowsonkb's schedule: factor sqrt(2) from 128 px gives 3 scales at
  256 px, 5 at 512), at least one."""
  longer = max(height, width)
  if coarsest_size is None:
    count = 1
    while longer >= 2 * AUTO_SCALES_SIZE:
      longer //= 2
      count += 1
    return count
  count = 1
  while round(longer / factor**count) >= coarsest_size:
    count += 1
  return count


def resolve_init(init: str, num_seeds: int) -> str:
  """init="auto" -> "content" for one seed, "noise" for several; others as given."""
  if init == "auto":
    return "noise" if num_seeds > 1 else "content"
  return init


@dataclasses.dataclass(frozen=True)
class ObjectiveSettings:
  """What is matched, and how strongly (see `objective.ObjectiveConfig`, which this
  becomes once the network is known: `resolve`).

  Attributes:
    network: "vgg19", "vgg16" or "alexnet" (`features.NETWORKS`); None: the weights'
      network, or VGG-19.
    weights_file: the network's weights file when `stylize` is given none: a path,
      "normalized" or "normalized_max" (`python -m jaxstyle.weights normalize`'s VGG-19
      with average or max pooling, `weights.NORMALIZED`); None: the network's default
      file, fetched on first use.
    pooling: "max" or "avg".
    content_layers, style_layers: None: the network's defaults
      (`features.DEFAULT_LAYERS`; VGG-19: conv4_2 and conv1_1 ... conv5_1).
    style_layer_weights: w_l per style layer (None: 1/#layers, the paper's 1/5).
    style_blend_weights: one per style image (None: equal); normalized to sum to 1, or
      with style masks each style's strength in its region (None: 1 each).
    content_weight, style_weight: alpha and beta; style_weight None: the style loss's
      and network's calibrated default (`objective.default_style_weight`).
    tv_weight: total-variation weight (0: off, as in the paper).
      content_weight, style_weight and tv_weight each take a tuple too: a sweep over
      every combination of the values (`sweep_points`), one vmapped program.
    histogram_weight: style_loss="histogram": its histogram term's weight (Risser's
      gamma).
    style_loss: one of `losses.STYLE_LOSSES`.
    content_normalization: "mean", "sum" (the paper's Eq. 1) or "scaled" (crowsonkb's).
    tv_normalization: "mean" or "sum"; None: "sum" with the summed content loss, "mean"
      otherwise.
  """

  network: str | None = None
  weights_file: str | None = None
  pooling: str = "max"
  content_layers: tuple[str, ...] | None = None
  style_layers: tuple[str, ...] | None = None
  style_layer_weights: tuple[float, ...] | None = None
  style_blend_weights: tuple[float, ...] | None = None
  content_weight: Weight = 1.0
  style_weight: Weight | None = None
  tv_weight: Weight = 0.0
  histogram_weight: float = DEFAULT_HISTOGRAM_WEIGHT
  style_loss: str = "gram"
  content_normalization: str = DEFAULT_CONTENT_NORMALIZATION
  tv_normalization: str | None = None

  def __post_init__(self):
    one_of("network", self.network, features.NETWORKS, optional=True)
    if self.weights_file is not None:
      _set(self, "weights_file", str(self.weights_file))
    for name in ("content_layers", "style_layers"):
      _set(self, name, _tuple(name, getattr(self, name), str))
    for name in ("style_layer_weights", "style_blend_weights"):
      _set(self, name, _tuple(name, getattr(self, name), float))
    _set(self, "content_weight", _weight("content_weight", self.content_weight))
    _set(self, "style_weight", _weight("style_weight", self.style_weight, optional=True))
    _set(self, "tv_weight", _weight("tv_weight", self.tv_weight))
    _set(self, "histogram_weight",
         float(in_range("histogram_weight", _number(self.histogram_weight), 0)))
    # The rest (names, layers, weights per layer, blend weights) is ObjectiveConfig's
    # to check: build one now. Without a network, the weights say which it is
    # (`resolve`): the layers must be some network's.
    errors = []
    for network in [self.network] if self.network else features.NETWORKS:
      try:
        self.resolve(network)
        break
      except ValueError as e:
        errors.append(e)
    else:
      raise errors[0]

  def sweep_points(self) -> list[dict[str, float]] | None:
    """`sweep_points` of this group's weights."""
    return sweep_points(content_weight=self.content_weight, style_weight=self.style_weight,
                        tv_weight=self.tv_weight)

  def resolve(self, network: str, *, guided: bool = False,
              point: dict[str, float] | None = None) -> ObjectiveConfig:
    """The objective for `network` (the network's default layers and calibrated beta
    where None), at the sweep `point` (None: the first point of a sweep)."""
    one_of("network", network, features.NETWORKS)
    default_content, default_style = features.DEFAULT_LAYERS[network]
    values = {"content_weight": self.content_weight, "style_weight": self.style_weight,
              "tv_weight": self.tv_weight}
    if values["style_weight"] is None:
      values["style_weight"] = default_style_weight(self.style_loss, network)
    point = point or (self.sweep_points() or [{}])[0]
    values = {k: point.get(k, v) for k, v in values.items()}
    return ObjectiveConfig(
        network=network,
        content_layers=default_content if self.content_layers is None else self.content_layers,
        style_layers=default_style if self.style_layers is None else self.style_layers,
        style_layer_weights=self.style_layer_weights,
        style_blend_weights=self.style_blend_weights, pooling=self.pooling, guided=guided,
        style_loss=self.style_loss, content_normalization=self.content_normalization,
        tv_normalization=self.tv_normalization, histogram_weight=self.histogram_weight,
        **values)


@dataclasses.dataclass(frozen=True)
class SolverSettings:
  """The pixel optimizer.

  Attributes:
    optimizer: one of `optimize.METHODS`.
    num_steps: iterations (at the coarsest scale: see `ScheduleSettings`).
    learning_rate: adam/sgd/adagrad (None: `optimize.DEFAULT_LEARNING_RATES`).
    lbfgs_history: L-BFGS memory (pairs kept).
    lbfgs_linesearch: None (unit steps, one evaluation per step), "zoom" or
      "backtracking" (`optimize.LINESEARCHES`).
    average_decay, clamp, adam_betas: adam/sgd/adagrad only (`optimize.FirstOrderOptions`):
      the output is the running average of the iterates with this decay; the image is
      clipped to [0, 1] after every step; Adam's (b1, b2).
    steps_per_call: optimizer steps per device call (None: the backend's choice,
      `optimize.default_steps_per_call`).
    time_limit: seconds of optimization (compiling excluded) after which to stop; with
      several scales each gets a share in proportion to its steps x pixels.
  """

  optimizer: str = "lbfgs"
  num_steps: int = 500
  learning_rate: float | None = None
  lbfgs_history: int = 20
  lbfgs_linesearch: str | None = None
  average_decay: float | None = None
  clamp: bool = False
  adam_betas: tuple[float, float] | None = None
  steps_per_call: int | None = None
  time_limit: float | None = None

  def __post_init__(self):
    one_of("optimizer", self.optimizer, optimize.METHODS)
    in_range("num_steps", self.num_steps, 1, integer=True)
    in_range("learning_rate", self.learning_rate, 0, open_low=True, optional=True)
    in_range("lbfgs_history", self.lbfgs_history, 1, integer=True)
    if self.lbfgs_linesearch == "none":  # The flag's spelling of None.
      _set(self, "lbfgs_linesearch", None)
    one_of("lbfgs_linesearch", self.lbfgs_linesearch, optimize.LINESEARCHES, optional=True)
    in_range("steps_per_call", self.steps_per_call, 1, integer=True, optional=True)
    in_range("time_limit", self.time_limit, 0, open_low=True, optional=True)
    _set(self, "adam_betas", _tuple("adam_betas", self.adam_betas, float))
    options = self.first_order  # FirstOrderOptions checks the ranges.
    if options != optimize.FirstOrderOptions() and self.optimizer not in optimize.FIRST_ORDER:
      raise ValueError(f"average_decay, clamp and adam_betas are options of "
                       f"{', '.join(optimize.FIRST_ORDER)}, not {self.optimizer}")

  @property
  def first_order(self) -> optimize.FirstOrderOptions:
    return optimize.FirstOrderOptions(average_decay=self.average_decay, clamp=self.clamp,
                                      adam_betas=self.adam_betas)


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
  """Coarse-to-fine: optimize a smaller image first, upsample the result and refine.

  Attributes:
    scales: how many sizes, each `scale_factor` times the previous; None: `auto_scales`
      (from about 256 px: 1 below 512 px, 2 from 512, 3 from 1024), or as many as
      `scale_steps` has values.
    scale_steps: steps at each scale, coarsest first (None: num_steps at the coarsest,
      then finer_steps, or half as many per scale).
    scale_factor: the size ratio of neighbouring scales (crowsonkb: sqrt(2)).
    coarsest_size: with scales=None, every size down to this many px on the longer side.
    finer_steps: steps at each scale after the coarsest (None: halve per scale).
    carry_state: adam/sgd/adagrad: each finer scale starts from the coarser one's
      optimizer state, resized (crowsonkb's warm start).
  """

  scales: int | None = None
  scale_steps: tuple[int, ...] | None = None
  scale_factor: float = 2.0
  coarsest_size: int | None = None
  finer_steps: int | None = None
  carry_state: bool = False

  def __post_init__(self):
    in_range("scales", self.scales, 1, integer=True, optional=True)
    _set(self, "scale_steps", _tuple("scale_steps", self.scale_steps, int))
    if self.scale_steps is not None:
      if not self.scale_steps or min(self.scale_steps) < 1:
        raise ValueError(f"scale_steps must be positive step counts, got {self.scale_steps}")
      if self.scales is not None and len(self.scale_steps) != self.scales:
        raise ValueError(f"scale_steps has {len(self.scale_steps)} values for "
                         f"scales={self.scales}")
    in_range("scale_factor", _number(self.scale_factor), 1, open_low=True)
    in_range("coarsest_size", self.coarsest_size, 16, integer=True, optional=True)
    in_range("finer_steps", self.finer_steps, 1, integer=True, optional=True)

  def num_scales(self, height: int, width: int) -> int:
    """`scales`, or the count `scale_steps` or `auto_scales` gives for this size."""
    if self.scales is not None:
      return self.scales
    if self.scale_steps is not None:
      return len(self.scale_steps)
    return auto_scales(height, width, factor=self.scale_factor,
                       coarsest_size=self.coarsest_size)

  def steps(self, num_steps: int, scales: int) -> list[int]:
    """The steps of each of `scales` scales, coarsest first."""
    if self.scale_steps is not None:
      if len(self.scale_steps) != scales:
        raise ValueError(f"scale_steps has {len(self.scale_steps)} values for {scales} scales")
      return list(self.scale_steps)
    if self.finer_steps is not None:
      return [num_steps] + [self.finer_steps] * (scales - 1)
    return [max(1, num_steps // 2**k) for k in range(scales)]


@dataclasses.dataclass(frozen=True)
class ImageSettings:
  """Sizes, and what is done to the style images before their statistics are taken.

  Attributes:
    image_size: the output's longer side in px (the content is resized to it); None:
      the content's size.
    image_side: "longer" or "shorter": the side image_size and style_size measure
      (Gatys et al.'s released code: 512 px on the shorter side).
    style_size: each style image's longer side in px; None: as given (the CLI:
      image_size). Not with style_scale.
    style_scale: each style image's longer side as a fraction of the content's (0.5:
      the painting's strokes come out at half the size); None: as given.
    style_rotation: rotate the style image(s) by this many degrees counter-clockwise.
    preserve_color: None, "luminance" (transfer on luminance, keep the content's
      colors) or "histogram" (match the style's colors to the content's first); Gatys
      et al., "Preserving Color in Neural Artistic Style Transfer" (2016).
  """

  image_size: int | None = None
  image_side: str = "longer"
  style_size: int | None = None
  style_scale: float | None = None
  style_rotation: float = 0.0
  preserve_color: str | None = None

  def __post_init__(self):
    in_range("image_size", self.image_size, 16, integer=True, optional=True)
    one_of("image_side", self.image_side, images.SIDES)
    in_range("style_size", self.style_size, 16, integer=True, optional=True)
    in_range("style_scale", _number(self.style_scale), 0, open_low=True, optional=True)
    in_range("style_rotation", _number(self.style_rotation))
    one_of("preserve_color", self.preserve_color, color.MODES, optional=True)
    if self.style_scale is not None and self.style_size is not None:
      raise ValueError("give style_scale or style_size, not both")


@dataclasses.dataclass(frozen=True)
class StartSettings:
  """Where the optimization starts.

  Attributes:
    init: one of INITS: "auto" ("content" for one seed, "noise" for several), "noise",
      "content", "style", "arbitrary" (the content stylized with the first style image
      by the arbitrary-style network, at the content's size) or "image" (an image given
      to `stylize` as init=array).
    seed, num_seeds: white-noise starts use seeds seed, seed + 1, ...; they run together
      as one vmapped program.
  """

  init: str = "auto"
  seed: int = 0
  num_seeds: int = 1

  def __post_init__(self):
    one_of("init", self.init, INITS)
    in_range("seed", self.seed, integer=True)
    in_range("num_seeds", self.num_seeds, 1, integer=True)
    if self.num_seeds > 1 and self.init not in ("auto", "noise"):
      raise ValueError("several seeds only differ when starting from white noise "
                       f"(init='noise'), not init={self.init!r}")

  @property
  def resolved_init(self) -> str:
    """init="auto" -> "content" for one seed, "noise" for several; others as given."""
    return resolve_init(self.init, self.num_seeds)


@dataclasses.dataclass(frozen=True)
class BackendSettings:
  """How the programs run.

  Attributes:
    precision: the convolutions' precision (`jaxstyle.precision`): "float32",
      "tensorfloat32" or "bfloat16"; Gram matrices are always float32.
    kernels: "auto" (the CPU kernels on the CPU backend, plain XLA elsewhere), "xla" or
      "cpu" (`jaxstyle.kernels`).
    shard_seeds: split the images over all `jax.devices()`; None: whenever there are
      several devices and the image count is a multiple of theirs.
  """

  precision: str = "float32"
  kernels: str = "auto"
  shard_seeds: bool | None = None

  def __post_init__(self):
    one_of("precision", self.precision, precision.PRECISIONS)
    one_of("kernels", self.kernels, kernels.KERNELS)


@dataclasses.dataclass(frozen=True)
class ProgressSettings:
  """Attributes:
    log_every: a progress line every this many steps (0: none).
    callback_every: `stylize`'s callback every this many steps (0: never).
  """

  log_every: int = 50
  callback_every: int = 0

  def __post_init__(self):
    in_range("log_every", self.log_every, 0, integer=True)
    in_range("callback_every", self.callback_every, 0, integer=True)


_GROUPS = {"objective": ObjectiveSettings, "solver": SolverSettings,
           "schedule": ScheduleSettings, "images": ImageSettings, "start": StartSettings,
           "backend": BackendSettings, "progress": ProgressSettings}


@dataclasses.dataclass(frozen=True)
class StylizeConfig:
  """Every setting of a Gatys et al. run (the groups' docstrings say what each does).

  Build it with keyword groups (`StylizeConfig(solver=SolverSettings(num_steps=300))`),
  from flat names (`StylizeConfig().replace(num_steps=300)`), a preset
  (`jaxstyle.preset("gatys2016")`) or a recorded run (`from_dict`).
  """

  objective: ObjectiveSettings = ObjectiveSettings()
  solver: SolverSettings = SolverSettings()
  schedule: ScheduleSettings = ScheduleSettings()
  images: ImageSettings = ImageSettings()
  start: StartSettings = StartSettings()
  backend: BackendSettings = BackendSettings()
  progress: ProgressSettings = ProgressSettings()

  def __post_init__(self):
    for name, group in _GROUPS.items():
      if not isinstance(getattr(self, name), group):
        raise TypeError(f"StylizeConfig.{name} must be a {group.__name__}, got "
                        f"{type(getattr(self, name)).__name__}")
    if self.schedule.carry_state and self.solver.optimizer not in optimize.FIRST_ORDER:
      raise ValueError(f"carry_state warm-starts {', '.join(optimize.FIRST_ORDER)}, not "
                       f"{self.solver.optimizer}")

  def replace(self, **flat: Any) -> StylizeConfig:
    """A copy with the fields named by their flat names (`FLAT_FIELDS`) replaced,
    checked again."""
    changes: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
      changes.setdefault(group_of(name), {})[name] = value
    return dataclasses.replace(self, **{
        group: dataclasses.replace(getattr(self, group), **fields)
        for group, fields in changes.items()})

  def flat(self) -> dict[str, Any]:
    """{flat name: value} of every field."""
    return {name: getattr(getattr(self, group), name) for name, group in FLAT_FIELDS.items()}

  def changes(self, base: StylizeConfig | None = None) -> dict[str, Any]:
    """{flat name: value} of the fields that differ from `base`'s (None: the defaults)."""
    base_values = (base or StylizeConfig()).flat()
    return {k: v for k, v in self.flat().items() if v != base_values[k]}

  def to_dict(self) -> dict[str, dict[str, Any]]:
    """{group: {field: value}}, JSON-ready (tuples stay tuples: json writes lists)."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> StylizeConfig:
    """The config `to_dict` (or its JSON) describes; unknown names are refused."""
    unknown = set(values) - set(_GROUPS)
    if unknown:
      raise ValueError(f"unknown config group(s) {', '.join(sorted(unknown))}; the groups "
                       f"are {', '.join(_GROUPS)}")
    config = cls()
    for group, fields in values.items():
      for name in fields:
        if FLAT_FIELDS.get(name) != group:
          raise ValueError(f"{group} has no field {name!r}")
      config = config.replace(**fields)
    return config


FLAT_FIELDS: dict[str, str] = {
    f.name: group for group, cls in _GROUPS.items() for f in dataclasses.fields(cls)}


def group_of(name: str) -> str:
  """The group of the field with flat name `name`; TypeError naming the nearest names."""
  if name not in FLAT_FIELDS:
    near = difflib.get_close_matches(name, FLAT_FIELDS, n=3)
    raise TypeError(f"unknown setting {name!r}" +
                    (f"; did you mean {', '.join(near)}?" if near else
                     " (see jaxstyle.StylizeConfig)"))
  return FLAT_FIELDS[name]
