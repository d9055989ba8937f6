"""The style-transfer objective: targets computed once, and a pure loss closure.

`compute_targets` extracts the content features and the style Gram matrices once;
`make_loss_fn` returns `loss_fn(image, targets, params) -> (total, components)`,
pure in all three arguments, so it can be jitted, differentiated and vmapped over
seeds with the (large) weights and targets passed in rather than baked in.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jaxstyle import losses
from jaxstyle.images import preprocess
from jaxstyle.vgg import POOLING_MODES, VGG19, check_layers
from jaxstyle.weights import VGGWeights

DEFAULT_CONTENT_LAYERS = ("conv4_2",)
DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

Targets = dict[str, Any]  # {"content": {layer: [H, W, C]}, "style": [{layer: [C, C]}, ...]}
LossFn = Callable[[jax.Array, Targets, Any], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
  """What the loss matches, and how strongly.

  Attributes:
    content_layers: layers whose features are matched (their losses are summed).
    style_layers: layers whose Gram matrices are matched.
    style_layer_weights: w_l per style layer; None means 1/len(style_layers) (the
      paper's w_l = 1/5 for five layers).
    style_blend_weights: one weight per style image; None means equal weights
      summing to 1.
    content_weight: alpha.
    style_weight: beta.
    tv_weight: weight of the total-variation term (0: off, as in the paper).
    pooling: "max" or "avg".
  """

  content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
  style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
  style_layer_weights: tuple[float, ...] | None = None
  style_blend_weights: tuple[float, ...] | None = None
  content_weight: float = 1.0
  style_weight: float = 100.0  # alpha/beta = 1e-2: see jaxstyle.transfer.stylize.
  tv_weight: float = 0.0
  pooling: str = "max"

  def __post_init__(self):
    object.__setattr__(self, "content_layers", tuple(self.content_layers))
    object.__setattr__(self, "style_layers", tuple(self.style_layers))
    if self.content_layers:
      check_layers(self.content_layers)
    if self.style_layers:
      check_layers(self.style_layers)
    if not self.content_layers and not self.style_layers:
      raise ValueError("at least one content or style layer is needed")
    if self.pooling not in POOLING_MODES:
      raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
    if self.style_layer_weights is not None:
      weights = tuple(float(w) for w in self.style_layer_weights)
      if len(weights) != len(self.style_layers):
        raise ValueError(f"{len(weights)} style layer weights for "
                         f"{len(self.style_layers)} style layers")
      object.__setattr__(self, "style_layer_weights", weights)
    for name in ("content_weight", "style_weight", "tv_weight"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")

  @property
  def layer_weights(self) -> dict[str, float]:
    if self.style_layer_weights is None:
      return {l: 1.0 / len(self.style_layers) for l in self.style_layers}  # w_l = 1/5 for 5.
    return dict(zip(self.style_layers, self.style_layer_weights))

  def blend_weights(self, num_styles: int) -> tuple[float, ...]:
    if self.style_blend_weights is None:
      return (1.0 / num_styles,) * num_styles
    if len(self.style_blend_weights) != num_styles:
      raise ValueError(f"{len(self.style_blend_weights)} style blend weights for "
                       f"{num_styles} style images")
    return tuple(float(w) for w in self.style_blend_weights)

  @property
  def all_layers(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(self.content_layers + self.style_layers))


def _features_fn(config: ObjectiveConfig, weights: VGGWeights, precision=None):
  model = VGG19(widths=weights.widths, pooling=config.pooling, precision=precision)

  def features(image: jax.Array, params: Any, layers: Sequence[str]) -> dict[str, jax.Array]:
    x = preprocess(image[None], weights.preprocessing)
    return {k: v[0] for k, v in model.apply(params, x, tuple(layers)).items()}

  return features


def compute_targets(content: jax.Array | None, styles: Sequence[jax.Array],
                    config: ObjectiveConfig, weights: VGGWeights) -> Targets:
  """Content features [H, W, C] and style Gram matrices [C, C], computed once.

  Args:
    content: RGB [H, W, 3] in [0, 1] (None if there are no content layers).
    styles: one or more RGB [h, w, 3] images in [0, 1]; sizes may differ.
  """
  features = jax.jit(_features_fn(config, weights), static_argnums=2)
  targets: Targets = {"content": {}, "style": []}
  if config.content_layers:
    if content is None:
      raise ValueError("content layers are set but no content image was given")
    targets["content"] = features(jnp.asarray(content), weights.flax_params,
                                  config.content_layers)
  if config.style_layers:
    if not styles:
      raise ValueError("style layers are set but no style image was given")
    gram = jax.jit(losses.gram_matrix)
    for style in styles:
      feats = features(jnp.asarray(style), weights.flax_params, config.style_layers)
      targets["style"].append({l: gram(feats[l]) for l in config.style_layers})
  return targets


def make_loss_fn(config: ObjectiveConfig, weights: VGGWeights, *, num_styles: int = 1,
                 precision=None) -> LossFn:
  """Returns `loss_fn(image [H, W, 3], targets, params) -> (total, components)`.

  `params` is `weights.flax_params`; components are the unweighted content, style
  and total-variation losses.
  """
  features_of = _features_fn(config, weights, precision)
  layer_weights = config.layer_weights
  blend = config.blend_weights(num_styles) if config.style_layers else ()

  def loss_fn(image: jax.Array, targets: Targets, params: Any):
    feats = features_of(image, params, config.all_layers)
    content = jnp.zeros((), jnp.float32)
    for layer in config.content_layers:
      content = content + losses.content_loss(feats[layer], targets["content"][layer])
    style = jnp.zeros((), jnp.float32)
    for b, grams in zip(blend, targets["style"]):
      style = style + b * losses.style_loss(feats, grams, layer_weights)
    tv = losses.total_variation_loss(image) if config.tv_weight else jnp.zeros((), jnp.float32)
    total = losses.total_loss(content, style, tv, content_weight=config.content_weight,
                              style_weight=config.style_weight, tv_weight=config.tv_weight)
    return total, {"content": content, "style": style, "tv": tv}

  return loss_fn
