"""Training the feed-forward style network (Johnson, Alahi & Fei-Fei, ECCV 2016).

One network per style image, trained with Adam on random crops of a directory of
photos (the paper: MS-COCO) to minimize the perceptual loss

  alpha * L_content(relu2_2) + beta * sum_l L_style(relu1_2, relu2_2, relu3_3, relu4_3)
  + tv_weight * L_tv

computed by our VGG-19 (the paper used VGG-16; same layer names up to relu4_3) with
Johnson's normalized losses from `jaxstyle.losses`. The pieces are pure: `make_loss_fn` and
`make_train_step` can be jitted and tested alone; `train` is the loop with
checkpoints, resume, progress lines, sample images and a losses JSON.

A checkpoint holds the parameters, optimizer state, step and the data pipeline's
position; batches are a pure function of (seed, step), so a resumed run sees the same
batches as an uninterrupted one and reaches the same parameters.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import queue
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import serialization
from PIL import Image

from jaxstyle import device_cache
from jaxstyle import features as features_lib
from jaxstyle import images as images_lib
from jaxstyle import losses
from jaxstyle._atomic import write_or_keep
from jaxstyle.errors import UserError
from jaxstyle.johnson import models
from jaxstyle.nets import johnson as net_lib
from jaxstyle.nets.vgg import check_layers
from jaxstyle.weights import NetworkWeights

JOHNSON_CONTENT_LAYER = "relu2_2"
JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CHECKPOINT_NAME = "checkpoint.msgpack"
CHECKPOINT_FORMAT = "jaxstyle.fast_train/1"  # (The name is historic.)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """What a training run optimizes, on what data.

  Attributes:
    net: the transformation network's shape.
    content_layer: the layer whose features are matched (Johnson: relu2_2).
    style_layers: layers whose Gram matrices are matched (Johnson: relu1_2, relu2_2,
      relu3_3, relu4_3), their losses summed.
    content_weight, style_weight, tv_weight: alpha, beta and the TV weight, applied to
      the size-normalized losses of `make_loss_fn` (alpha = 1, beta = 5: Johnson's).
    saturation_weight: weight of mean(max(|z| - LOGIT_LIMIT, 0)^2) over the tanh's
      inputs z, zero while the output stays in the image range. Not in the paper: with
      nothing pulling them back, regions pushed past white or black sank into tanh's
      flat tails within 100 steps and stayed there as flat saturated blobs (the loss
      was lower without them, but their gradient had vanished).
    learning_rate: Adam's (Johnson: 1e-3).
    batch_size: crops per step (Johnson: 4).
    crop_size: side of the square training crops, px (Johnson: 256).
    resize: photos are resized so their shorter side is this many px before the crop
      (None: 1.25 * crop_size).
    pooling: VGG-19 pooling, "max" or "avg".
    seed: initializes the network and drives the data order and crops.
  """

  net: net_lib.ImageTransformConfig = net_lib.ImageTransformConfig()
  content_layer: str = JOHNSON_CONTENT_LAYER
  style_layers: tuple[str, ...] = JOHNSON_STYLE_LAYERS
  content_weight: float = 1.0
  style_weight: float = 5.0
  tv_weight: float = 1e5
  saturation_weight: float = 1e5
  learning_rate: float = 1e-3
  batch_size: int = 4
  crop_size: int = 256
  resize: int | None = None
  pooling: str = "max"
  seed: int = 0

  def __post_init__(self):
    object.__setattr__(self, "style_layers", tuple(self.style_layers))
    check_layers((self.content_layer,) + self.style_layers)
    for name in ("content_weight", "style_weight", "tv_weight", "saturation_weight"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
    for name in ("learning_rate", "batch_size", "crop_size"):
      if getattr(self, name) <= 0:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
    if self.resize is not None and self.resize < self.crop_size:
      raise ValueError(f"resize ({self.resize}) must be at least crop_size ({self.crop_size})")

  @property
  def resize_to(self) -> int:
    return self.resize or round(1.25 * self.crop_size)

  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["net"] = dataclasses.asdict(self.net)
    return d

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
    d = dict(d)
    d["net"] = net_lib.ImageTransformConfig(**d["net"])
    return cls(**d)


# --- The perceptual loss ----------------------------------------------------------------


def _vgg_features(config: "TrainConfig", weights: NetworkWeights, kernels: str, precision: str):
  return features_lib.feature_fn(weights.widths, weights.preprocessing, config.pooling,
                                 kernels=kernels, precision=precision)


def style_targets(style: np.ndarray, config: TrainConfig, weights: NetworkWeights, *,
                  kernels: str = "auto", precision: str = "float32") -> dict:
  """{layer: normalized Gram [C, C]} of the style image [H, W, 3] in [0, 1]."""
  features = _vgg_features(config, weights, kernels, precision)
  variables = {"params": features_lib.network_variables(weights, "xla", config.style_layers)[
      "params"]}
  feats = jax.jit(features, static_argnums=2)(
      variables, jnp.asarray(style, jnp.float32)[None], config.style_layers)
  return {l: losses.batched_gram(feats[l])[0] for l in config.style_layers}


def make_loss_fn(config: TrainConfig, weights: NetworkWeights, *, kernels: str = "auto",
                 precision: str = "float32") -> Callable:
  """Returns `loss_fn(outputs, contents, targets, vgg_variables) -> (total, components)`.

  outputs and contents are [N, H, W, 3] in [0, 1]; targets from `style_targets`;
  vgg_variables from `features.network_variables(weights, kernels, layers)` (every layer,
  or those up to the deepest of the config's). Johnson et al.'s
  normalizations (Sec. 3.3; `losses.feature_reconstruction_loss`,
  `losses.style_reconstruction_loss`), averaged over the batch, so that alpha and beta
  do not depend on the crop size; tv = `losses.total_variation_loss` / (H W).
  """
  features = _vgg_features(config, weights, kernels, precision)
  layers = tuple(dict.fromkeys((config.content_layer,) + config.style_layers))

  def loss_fn(outputs, contents, targets, vgg_variables):
    out = features(vgg_variables, outputs, layers)
    ref = jax.lax.stop_gradient(features(vgg_variables, contents, (config.content_layer,)))
    content = losses.feature_reconstruction_loss(out[config.content_layer],
                                                 ref[config.content_layer])
    style = jnp.zeros((), jnp.float32)
    for layer in config.style_layers:
      style = style + losses.style_reconstruction_loss(out[layer], targets[layer])
    h, w = outputs.shape[1:3]
    tv = jnp.mean(jax.vmap(losses.total_variation_loss)(outputs)) / (h * w)
    total = (config.content_weight * content + config.style_weight * style
             + config.tv_weight * tv)
    return total, {"content": content, "style": style, "tv": tv}

  return loss_fn


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  return optax.adam(config.learning_rate)


def init_state(config: TrainConfig) -> dict:
  """{'variables': network variables, 'opt_state': Adam's state}."""
  variables = net_lib.init_variables(config.net, seed=config.seed)
  return {"variables": variables,
          "opt_state": make_optimizer(config).init(variables["params"])}


def make_train_step(config: TrainConfig, weights: NetworkWeights, *, kernels: str = "auto",
                    precision: str = "float32") -> Callable:
  """Returns pure `step(state, batch, targets, vgg_variables) -> (state, losses)` (not
  jitted); kernels and precision serve both networks."""
  loss_fn = make_loss_fn(config, weights, kernels=kernels, precision=precision)
  optimizer = make_optimizer(config)

  def step(state, batch, targets, vgg_variables):
    variables = state["variables"]

    def objective(params):
      outputs, logits, new_variables = models.apply_train(
          config.net, dict(variables, params=params), batch, kernels=kernels,
          precision=precision)
      total, parts = loss_fn(outputs, batch, targets, vgg_variables)
      saturation = jnp.mean(jnp.square(jax.nn.relu(jnp.abs(logits) - net_lib.LOGIT_LIMIT)))
      total = total + config.saturation_weight * saturation
      return total, (dict(parts, saturation=saturation), new_variables)

    (total, (parts, new_variables)), grads = jax.value_and_grad(objective, has_aux=True)(
        variables["params"])
    updates, opt_state = optimizer.update(grads, state["opt_state"], variables["params"])
    params = optax.apply_updates(variables["params"], updates)
    new_state = {"variables": dict(new_variables, params=params), "opt_state": opt_state}
    return new_state, dict(parts, total=total)

  return step


# --- Data: random crops of a directory of photos ----------------------------------------


class CropSampler:
  """Random square crops of photos, as a pure function of (seed, sample index).

  Sample k is photo perm_e[k mod n] of epoch e = k // n (perm_e a permutation seeded by
  (seed, e)), resized so its shorter side is `resize` px, cropped at a position and
  flipped by an RNG seeded by (seed, k). Photos that cannot be read are reported once
  and replaced by the next photo in the list. Resized photos are cached in memory
  (up to `cache_size` of them).
  """

  def __init__(self, files: Sequence[pathlib.Path], *, crop_size: int, resize: int,
               seed: int, cache_size: int = 4096):
    self.files = list(files)
    self.crop_size, self.resize, self.seed = crop_size, resize, seed
    self.cache_size = cache_size
    self._cache: dict[int, np.ndarray] = {}
    self._bad: set[int] = set()
    self._perms: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()

  def _perm(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      self._perms = {epoch: np.random.default_rng([self.seed, 0, epoch]).permutation(
          len(self.files))}
    return self._perms[epoch]

  def _photo(self, index: int) -> np.ndarray:
    for attempt in range(len(self.files)):
      i = (index + attempt) % len(self.files)
      with self._lock:
        if i in self._cache:
          return self._cache[i]
        if i in self._bad:
          continue
      try:
        with Image.open(self.files[i]) as im:
          im = images_lib._to_rgb(im)  # pylint: disable=protected-access
          scale = self.resize / min(im.size)
          size = (max(self.resize, round(im.width * scale)),
                  max(self.resize, round(im.height * scale)))
          photo = np.asarray(im.resize(size, Image.Resampling.BILINEAR), np.uint8)
      except Exception as e:  # pylint: disable=broad-except
        logging.warning("skipping unreadable photo %s (%s)", self.files[i], e)
        with self._lock:
          self._bad.add(i)
        continue
      with self._lock:
        if len(self._cache) < self.cache_size:
          self._cache[i] = photo
      return photo
    raise UserError("none of the dataset's photos can be read")

  def example(self, k: int) -> np.ndarray:
    """Sample k: float32 [crop, crop, 3] in [0, 1]."""
    epoch, pos = divmod(k, len(self.files))
    with self._lock:
      index = int(self._perm(epoch)[pos])
    photo = self._photo(index)
    rng = np.random.default_rng([self.seed, 1, k])
    h, w = photo.shape[:2]
    y = int(rng.integers(0, h - self.crop_size + 1))
    x = int(rng.integers(0, w - self.crop_size + 1))
    crop = photo[y:y + self.crop_size, x:x + self.crop_size]
    if rng.random() < 0.5:
      crop = crop[:, ::-1]
    return crop.astype(np.float32) / 255.0

  def batch(self, step: int, batch_size: int) -> np.ndarray:
    """The batch of training step `step` (0-based): [B, crop, crop, 3]."""
    return np.stack([self.example(step * batch_size + i) for i in range(batch_size)])


class Prefetcher:
  """Yields sampler.batch(step) for step = start, start + 1, ..., made in a thread."""

  def __init__(self, sampler: CropSampler, batch_size: int, start: int, depth: int = 4):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self._error: BaseException | None = None

    def work():
      step = start
      try:
        while not self._stop.is_set():
          item = (step, sampler.batch(step, batch_size))
          while not self._stop.is_set():
            try:
              self._queue.put(item, timeout=0.1)
              break
            except queue.Full:
              continue
          step += 1
      except BaseException as e:  # pylint: disable=broad-except
        self._error = e
        self._queue.put(None)

    self._thread = threading.Thread(target=work, daemon=True, name="prefetch")
    self._thread.start()

  def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
    return self

  def __next__(self) -> tuple[int, np.ndarray]:
    item = self._queue.get()
    if item is None:
      raise self._error  # type: ignore[misc]
    return item

  def close(self) -> None:
    self._stop.set()
    self._thread.join(timeout=5)


# --- Checkpoints ------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, state: dict, meta: Mapping[str, Any]) -> None:
  """Writes state (variables, opt_state) and meta (step, data position, history) atomically.

  Raises:
    OutputError: `path` could not be written; the checkpoint was kept in the system's
      temporary directory instead, where the message says (copy it back to resume).
  """
  blob = serialization.msgpack_serialize({
      "format": CHECKPOINT_FORMAT, "meta": json.dumps(dict(meta)),
      "state": serialization.to_state_dict(jax.device_get(state))})
  write_or_keep(path, lambda tmp: pathlib.Path(tmp).write_bytes(blob),
                what="the checkpoint")


def load_checkpoint(path: str | os.PathLike, template: dict) -> tuple[dict, dict]:
  """Reads a checkpoint into the structure of `template`; returns (state, meta)."""
  try:
    raw = serialization.msgpack_restore(pathlib.Path(path).read_bytes())
    if raw.get("format") != CHECKPOINT_FORMAT:
      raise ValueError(f"format {raw.get('format')!r}")
    state = serialization.from_state_dict(template, raw["state"])
    meta = json.loads(raw["meta"])
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"cannot resume from {path}: {e}") from None
  return jax.tree_util.tree_map(jnp.asarray, state), meta


# --- The loop ---------------------------------------------------------------------------


@dataclasses.dataclass
class TrainResult:
  state: dict
  step: int
  history: dict[str, list[float]]
  seconds: float
  model_path: pathlib.Path | None


def _eta(seconds: float) -> str:
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
      f"{seconds // 60}m{seconds % 60:02d}s")


def _write_json(path: pathlib.Path, payload: dict) -> None:
  text = json.dumps(payload, indent=1)
  write_or_keep(path, lambda tmp: pathlib.Path(tmp).write_text(text), what="the losses")


_COMPILED = device_cache.PerObject()  # weights -> {(config, kernels, precision): programs}


def _compiled(config: TrainConfig, weights: NetworkWeights, kernels: str, precision: str
              ) -> tuple[Callable, Callable]:
  """The jitted train step and forward pass, kept across `train` calls (and resumes)."""
  def make():
    step = make_train_step(config, weights, kernels=kernels, precision=precision)
    forward = lambda v, x: models.apply(config.net, v, x, kernels=kernels,
                                        precision=precision)[0]
    return jax.jit(step), jax.jit(forward)

  return _COMPILED.get(weights, (config, kernels, precision), make)


def train(config: TrainConfig, style: np.ndarray, dataset_dir: str | os.PathLike,
          output_dir: str | os.PathLike, *, weights: NetworkWeights, num_steps: int,
          resume: bool = False, checkpoint_every: int = 100, sample_every: int = 100,
          sample_images: Sequence[np.ndarray] = (), log_every: int = 10,
          model_path: str | os.PathLike | None = None, model_dtype: str = "float32",
          model_meta: Mapping[str, Any] | None = None, stop_after: int | None = None,
          prefetch: int = 4, kernels: str = "auto", precision: str = "float32"
          ) -> TrainResult:
  """Trains (or resumes training) the network for `style`; returns the final state.

  Writes under output_dir: checkpoint.msgpack every `checkpoint_every` steps (and at
  the end), losses.json (per-step losses and wall time) with each checkpoint,
  samples/step_NNNNNN.jpg (`sample_images` stylized) every `sample_every` steps, and
  the model file (`model_path`, default output_dir/model.msgpack) at the end.

  Args:
    style: RGB [H, W, 3] in [0, 1], at the size whose statistics are to be learned.
    resume: continue from output_dir/checkpoint.msgpack (if there is none, start
      afresh). Without it an existing checkpoint is an error, never overwritten.
    stop_after: stop after this step without a final checkpoint, as a killed run
      would (for tests).
    kernels, precision: of both networks (`jaxstyle.kernels`, `jaxstyle.precision`).

  Ctrl-C (KeyboardInterrupt) during the steps writes a checkpoint of the last step
  done, then raises KeyboardInterrupt with a message that says so.
  """
  output_dir = pathlib.Path(output_dir)
  checkpoint = output_dir / CHECKPOINT_NAME
  model_path = pathlib.Path(model_path) if model_path else output_dir / "model.msgpack"
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  if checkpoint.exists() and not resume:
    raise UserError(f"{checkpoint} exists: pass --resume to continue it, or use another "
                    "--output_dir")
  sampler = CropSampler(images_lib.find_images(dataset_dir, recursive=True,
                                                what="dataset directory"), crop_size=config.crop_size,
                        resize=config.resize_to, seed=config.seed)
  targets = style_targets(style, config, weights, kernels=kernels, precision=precision)
  state = init_state(config)
  step, history, elapsed = 0, {"total": [], "content": [], "style": [], "tv": [],
                               "saturation": [], "time": []}, 0.0
  if resume and checkpoint.exists():
    state, meta = load_checkpoint(checkpoint, state)
    saved = TrainConfig.from_dict(meta["config"])
    if saved != config:
      raise UserError(f"{checkpoint} was trained with a different configuration: "
                      f"{json.dumps(saved.to_dict())}")
    step, history, elapsed = meta["step"], meta["history"], meta["elapsed"]
    logging.info("resuming from %s at step %d (data seed %d, next sample %d)", checkpoint,
                 step, meta["data"]["seed"], meta["data"]["next_sample"])
  elif resume:
    logging.info("no checkpoint at %s: starting afresh", checkpoint)

  step_fn, apply_fn = _compiled(config, weights, kernels, precision)
  vgg_params = features_lib.network_variables(
      weights, kernels, (config.content_layer,) + config.style_layers)

  def meta():
    return {"config": config.to_dict(), "step": step, "elapsed": elapsed,
            "data": {"seed": config.seed, "next_sample": step * config.batch_size},
            "history": history}

  def write_checkpoint():
    save_checkpoint(checkpoint, state, meta())
    _write_json(output_dir / "losses.json", {
        "config": config.to_dict(), "step": step, "wall_seconds": elapsed,
        "device": jax.devices()[0].device_kind, "history": history})

  def write_samples():
    if not sample_images:
      return
    outs = [np.asarray(apply_fn(state["variables"], jnp.asarray(im)[None])[0])
            for im in sample_images]
    sheet = images_lib.contact_sheet(list(sample_images) + outs, columns=len(outs))
    images_lib.save_image(sheet, output_dir / "samples" / f"step_{step:06d}.jpg")

  output_dir.mkdir(parents=True, exist_ok=True)
  start_step = step
  if step < num_steps:
    logging.info("training %d -> %d steps (batch %d, %d px crops, %d photos); the first "
                 "step compiles", step, num_steps, config.batch_size, config.crop_size,
                 len(sampler.files))
  batches = Prefetcher(sampler, config.batch_size, step, depth=prefetch)
  t_run = time.time()
  t_mark, mark_step = None, step
  try:
    for batch_step, batch in batches:
      if step >= num_steps:
        break
      assert batch_step == step, (batch_step, step)
      t0 = time.time()
      new_state, parts = step_fn(state, jnp.asarray(batch), targets, vgg_params)
      parts = {k: float(v) for k, v in parts.items()}
      seconds = time.time() - t0
      for k, v in parts.items():
        history.setdefault(k, []).append(v)
      history["time"].append(elapsed + seconds)
      # One assignment (no interrupt can land inside it) commits the step.
      state, step, elapsed = new_state, step + 1, elapsed + seconds
      if not np.isfinite(parts["total"]):
        raise UserError(f"the loss became {parts['total']} at step {step}; lower "
                        "--learning_rate or the loss weights")
      if step == start_step + 1:
        logging.info("step %d: loss %.4g (compiled and ran in %.1f s)", step, parts["total"],
                     time.time() - t0)
        t_mark, mark_step = time.time(), step
      elif log_every and step % log_every == 0:
        rate = (step - mark_step) / max(time.time() - t_mark, 1e-9)
        logging.info("step %d/%d: loss %.4g (content %.4g, style %.4g, tv %.4g, "
                     "saturation %.3g), %.2f steps/s, ETA %s", step, num_steps,
                     parts["total"], parts["content"], parts["style"], parts["tv"],
                     parts["saturation"], rate,
                     _eta((num_steps - step) / max(rate, 1e-9)))
      if stop_after is not None and step >= stop_after:
        return TrainResult(state, step, history, elapsed, None)
      if sample_every and step % sample_every == 0:
        write_samples()
      if checkpoint_every and step % checkpoint_every == 0:
        write_checkpoint()
  except KeyboardInterrupt as e:
    for values in history.values():
      del values[step:]  # The losses of a step the interrupt cut short.
    if step > start_step:
      write_checkpoint()
      message = (f"interrupted after step {step}; wrote the checkpoint {checkpoint}; "
                 "continue with --resume")
    elif checkpoint.exists():
      message = (f"interrupted after step {step}; the checkpoint {checkpoint} is kept; "
                 "continue with --resume")
    else:
      message = "interrupted before the first step; nothing was saved"
    logging.warning("%s", message)
    raise KeyboardInterrupt(message) from e
  finally:
    batches.close()
  if step > start_step or not checkpoint.exists():
    write_checkpoint()
    write_samples()
  final = {k: v[-1] for k, v in history.items() if k != "time" and v}
  model_meta = dict(model_meta or {}, steps=step, train_config=config.to_dict(),
                    final_losses=final, wall_seconds=elapsed)
  size = models.save_model(
      models.FastModel(config.net, jax.device_get(state["variables"]), model_meta),
      model_path, dtype=model_dtype)
  logging.info("%d steps in %.1f s of training (this run: %.1f s); final loss %s; wrote "
               "%s (%.1f MB)", step, elapsed, time.time() - t_run,
               json.dumps({k: float(f"{v:.4g}") for k, v in final.items()}), model_path,
               size / 2**20)
  return TrainResult(state, step, history, elapsed, model_path)
