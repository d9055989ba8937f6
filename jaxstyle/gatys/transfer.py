"""`stylize`: the Python API for Gatys et al. style transfer on arrays."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxstyle import color
from jaxstyle import features as features_lib
from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import weights as weights_lib
from jaxstyle.gatys import inputs
from jaxstyle.gatys import memory
from jaxstyle.gatys import optimize
from jaxstyle.gatys import pyramid
from jaxstyle.gatys import start as start_lib
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, loss_weights, make_loss_fn
from jaxstyle.images import resize_to

@dataclasses.dataclass
class StylizeResult:
  """What `stylize` returns.

  Attributes:
    images: [S, H, W, 3] float32 in [0, 1], one per seed (S = 1 unless num_seeds > 1),
      or one per (sweep point, seed), point-major.
    seeds: the seed of each image (image i starts from the noise of a run with seeds[i]).
    points: for a weight sweep, each image's swept weights ({"style_weight": 1e-4}, ...:
      `sweep_points`); None otherwise.
    history: per-step losses [steps + 1, S] ("total", "content", "style", "tv") and
      "time" [steps + 1] in seconds.
    steps: steps completed.
    stopped: None, or why the run stopped early (e.g. a NaN loss, an interrupt).
    config: the `StylizeConfig` the images were made with (overrides applied).
    run: what the run resolved and measured: the objective as used
      (`ObjectiveConfig`'s fields: the network, its default layers, the calibrated
      style_weight; a sweep's values as tuples), "init" ("auto" resolved), "height",
      "width", "kernels" (resolved), "steps_per_call", "scales" ({"height", "width",
      "steps"} per level), "time_limited", "weights" and "arbitrary_weights" (the
      files' metadata), "evaluations" and "devices".
    interrupted: the run was stopped by Ctrl-C or SIGTERM (`images` are the last ones).
  """

  images: np.ndarray
  seeds: list[int]
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None
  config: StylizeConfig
  run: dict[str, Any]
  interrupted: bool = False
  points: list[dict[str, float]] | None = None


def stylize(content, style, config: StylizeConfig | None = None, *,
            weights: weights_lib.NetworkWeights | None = None,
            callback: Callable[[int, np.ndarray], None] | None = None,
            style_masks: Sequence[np.ndarray] | None = None,
            temporal: tuple[np.ndarray, np.ndarray] | None = None,
            arbitrary_weights: Any | None = None, **overrides) -> StylizeResult:
  """Synthesizes images with `content`'s features and `style`'s style statistics.

  stylize(content, style)                               # the defaults
  stylize(content, style, num_steps=300, style_weight=1e-2)   # flat names
  stylize(content, style, jaxstyle.preset("gatys2016"), num_seeds=4)

  Args:
    content: RGB [H, W, 3] float in [0, 1]; the output has its size (or
      config.images.image_size on its longer side).
    style: one RGB [h, w, 3] image in [0, 1], or a list of them (blended).
    config: every setting (`StylizeConfig`; None: the defaults). Its groups' docstrings
      say what each field does.
    weights: the feature network's weights (`weights.NetworkWeights`: VGG-19, VGG-16
      or AlexNet); None: config.objective's
      weights_file, or the network's default file, fetched on first use (see
      `jaxstyle.weights`).
    callback: called as callback(step, images [S, h, w, 3]) every
      config.progress.callback_every steps (steps counted across scales; images at the
      current scale).
    style_masks: spatial control: one mask [h, w] in [0, 1] per style image (resized to
      the content's size): where that style applies; where no mask is set, no style.
    temporal: video (Ruder et al.): (the previous output warped into this frame
      [H, W, 3], where that warp is reliable [H, W] in [0, 1]) at the output's size
      (`flow.flows_for`); the loss adds config.objective.temporal_weight times their
      reliability-weighted squared difference (`losses.temporal_loss`).
    arbitrary_weights: for init="arbitrary", the arbitrary-style networks'
      `jaxstyle.weights.arbitrary.ArbitraryWeights` (None: the default file, fetched on
      first use).
    **overrides: fields of `config` by their flat names (`config.FLAT_FIELDS`), e.g.
      num_steps=300, style_weight=(1e-4, 1e-3) (a sweep: one image per point and seed,
      point-major, as one vmapped program). init may also be an RGB image [H, W, 3]
      (resized if needed): the config then says init="image".

  Returns:
    A `StylizeResult`: the images, the config they were made with, and what the run
    resolved and measured (`run`).
  """
  init_image = None
  if "init" in overrides and not isinstance(overrides["init"], str):
    init_image = inputs.check_image("init image", overrides["init"])
    overrides["init"] = "image"
  config = (config or StylizeConfig()).replace(**overrides)
  settings, solver, start = config.objective, config.solver, config.start
  backend, sizes = config.backend, config.images
  content = inputs.check_image("content image", content)
  if sizes.image_size is not None:
    content = images_lib.resize(content, sizes.image_size, sizes.image_side)
  styles = [style] if isinstance(style, np.ndarray) and np.ndim(style) == 3 else list(style)
  styles = [inputs.check_image(f"style image {i + 1}", s) for i, s in enumerate(styles)]
  if sizes.style_size is not None:
    styles = [images_lib.resize(s, sizes.style_size, sizes.image_side) for s in styles]
  if start.init == "image" and init_image is None:
    raise ValueError("init='image' needs the image: stylize(..., init=array)")
  init = start.resolved_init
  height, width = content.shape[:2]
  scales = config.schedule.num_scales(height, width)
  scale_steps = config.schedule.steps(solver.num_steps, scales)
  if style_masks is not None and len(style_masks) != len(styles):
    raise ValueError(f"{len(style_masks)} style masks for {len(styles)} style images")
  network = settings.network
  if weights is not None:
    if network is not None and features_lib.network_of(weights) != network:
      raise ValueError(f"network={network} but the weights are "
                       f"{features_lib.network_of(weights)}'s")
    network = features_lib.network_of(weights)
  network = network or "vgg19"
  objective = settings.resolve(network, guided=style_masks is not None,
                               temporal=temporal is not None)
  if objective.style_layers:
    objective.blend_weights(len(styles))  # Checks the count early.
  points = settings.sweep_points()
  # The objective of each image: one per (point, seed), point-major.
  image_objectives = None
  if points is not None:
    image_objectives = [settings.resolve(network, guided=style_masks is not None,
                                         temporal=temporal is not None, point=p)
                        for p in points for _ in range(start.num_seeds)]
  num_images = start.num_seeds * (1 if points is None else len(points))
  plan_memory = functools.partial(
      memory.plan_memory, num_seeds=num_images, layers=objective.all_layers,
      method=solver.optimizer, style_loss=objective.style_loss, tile_size=backend.tile_size,
      content_layers=objective.content_layers,
      shard_seeds=backend.shard_seeds, kernels=backend.kernels, network=network)
  history_size = plan_memory(height, width, history_size=solver.lbfgs_history,
                             log=logging.info).history_size
  if weights is None:
    weights = features_lib.load_weights(network, log=logging.info, path=settings.weights_file)

  original = content
  styles = inputs.prepare_styles(content, styles, style_scale=sizes.style_scale,
                          style_rotation=sizes.style_rotation,
                          preserve_color=sizes.preserve_color)
  masks = inputs.check_masks(style_masks)
  previous = inputs.check_temporal(temporal, height, width)
  seeds = [start.seed + i for i in range(start.num_seeds)]
  if init == "arbitrary":
    if arbitrary_weights is None:
      from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
      arbitrary_weights = arbitrary.ensure_default()
    start_image = start_lib.arbitrary_start(arbitrary_weights, content, styles[0],
                                  kernels=backend.kernels, precision=backend.precision)
  else:
    start_image = {"noise": None, "content": content, "style": styles[0],
                   "image": init_image}[init]
  if sizes.preserve_color == "luminance":
    content = color.gray_rgb(color.luminance(content))
    if start_image is not None and init != "style":
      start_image = color.gray_rgb(color.luminance(start_image))

  shapes = pyramid.level_shapes(height, width, scales, config.schedule.scale_factor)
  x, results, levels = None, [], []
  for level, ((h, w), steps) in enumerate(zip(shapes, scale_steps)):
    level_time = pyramid.level_time_limit(solver.time_limit, shapes, scale_steps, level,
                                          results)
    if x is None:
      x0 = start_lib.initial_images(start_image, seeds, h, w)
      if points is not None:  # Each point starts as its single run would.
        x0 = jnp.concatenate([jnp.broadcast_to(x0, (len(seeds), h, w, 3))] * len(points))
    else:
      x0 = jnp.asarray(np.stack([resize_to(np.clip(im, 0, 1), h, w) for im in x]))
    if scales > 1:
      logging.info("scale %d/%d: %dx%d px, %d steps", level + 1, scales, w, h, steps)
    done = sum(r.steps for r in results)
    level_plan = plan_memory(h, w, history_size=history_size)
    level_callback = None
    if callback is not None:
      level_callback = lambda k, images, offset=done: callback(offset + k, images)
    level_styles = [inputs.check_image(f"style image {i + 1} at {w}x{h} px",
                                       pyramid.scaled_style(s, h / height))
                    for i, s in enumerate(styles)]
    result = _optimize_level(
        x0, resize_to(content, h, w), level_styles,
        None if masks is None else [pyramid.resized_mask(m, h, w) for m in masks],
        config,
        temporal=None if previous is None else (resize_to(previous[0], h, w),
                                                pyramid.resized_mask(previous[1], h, w)), weights=weights, objective=objective, num_steps=steps,
        callback=level_callback, time_limit=level_time, key=jax.random.key(start.seed),
        initial_state=(optimize.resize_state(results[-1].state, shapes[level - 1], (h, w))
                       if config.schedule.carry_state and results else None),
        image_objectives=image_objectives, memory_plan=level_plan)
    x = result.x
    results.append(result)
    levels.append({"height": h, "width": w, "steps": result.steps,
                   "tile_size": level_plan.tile_size})
    if result.stopped:
      break
  images = np.clip(x, 0.0, 1.0)
  if images.shape[1:3] != (height, width):  # Stopped early at a coarser scale.
    images = np.stack([resize_to(im, height, width) for im in images])
  images = inputs.restore_color(images, original, sizes.preserve_color)

  run = dataclasses.asdict(objective)
  if points is not None:  # The swept values, as given.
    run.update({name: tuple(dict.fromkeys(p[name] for p in points)) for name in points[0]})
  run.update(init=init, height=height, width=width, noise_std=start_lib.NOISE_STD,
             kernels=kernels_lib.resolve(backend.kernels),
             steps_per_call=results[0].steps_per_call,
             time_limited=any(r.time_limited for r in results), scales=levels,
             lbfgs_history=history_size,
             weights=dict(weights.meta, preprocessing=weights.preprocessing),
             arbitrary_weights=(dict(arbitrary_weights.meta)
                                if arbitrary_weights is not None else None),
             evaluations=sum(r.evaluations or 0 for r in results) or None,
             devices=results[-1].devices)
  return StylizeResult(images=images,
                       seeds=seeds * (1 if points is None else len(points)),
                       history=pyramid.merged_histories(results),
                       steps=sum(r.steps for r in results),
                       stopped=results[-1].stopped, config=config, run=run,
                       interrupted=results[-1].interrupted,
                       points=None if points is None else [p for p in points for _ in seeds])


def _optimize_level(x0, content, styles, masks, config: StylizeConfig, *, weights,
                    objective: ObjectiveConfig, num_steps, callback, time_limit, key,
                    memory_plan: memory.MemoryPlan, initial_state=None,
                    image_objectives=None, temporal=None) -> optimize.MinimizeResult:
  """One level of the pyramid: its targets, its loss, the optimization from x0.
  memory_plan: its tile size and L-BFGS history; image_objectives: a sweep's objective
  per image (they differ in their loss weights only); temporal: the warped previous
  output and its reliability at this level's size."""
  solver, backend = config.solver, config.backend
  kernels, precision = backend.kernels, backend.precision
  tile_size = memory_plan.tile_size
  targets = compute_targets(content, styles, objective, weights, style_masks=masks,
                            kernels=kernels, precision=precision, key=key, tile_size=tile_size,
                            temporal=temporal)
  targets_axes = None
  if image_objectives is not None:  # One row of loss weights per image, vmapped with it.
    rows = [loss_weights(c, len(styles)) for c in image_objectives]
    targets["weights"] = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *rows)
    targets_axes = {k: (0 if k == "weights" else None) for k in targets}
  loss_fn = make_loss_fn(objective, weights, num_styles=len(styles), kernels=kernels,
                         precision=precision, tile_size=tile_size)
  return optimize.minimize(
      loss_fn, x0, (targets, features_lib.network_variables(weights, kernels,
                                                           objective.all_layers)),
      method=solver.optimizer, num_steps=num_steps, learning_rate=solver.learning_rate,
      history_size=memory_plan.history_size, linesearch=solver.lbfgs_linesearch,
      log_every=config.progress.log_every, callback=callback,
      callback_every=config.progress.callback_every, shard_seeds=backend.shard_seeds,
      steps_per_call=solver.steps_per_call, first_order=solver.first_order,
      time_limit=time_limit, initial_state=initial_state,
      args_axes=None if targets_axes is None else (targets_axes, None))
