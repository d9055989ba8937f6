"""The losses of Gatys, Ecker & Bethge (CVPR 2016), as the paper writes them, and the
normalized forms Johnson, Alahi & Fei-Fei (ECCV 2016) train their network with.

Features are one image's [H, W, C] activations (M = H*W positions, N = C filters), or
a batch's [B, H, W, C] where the name says so.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

_HIGHEST = jax.lax.Precision.HIGHEST


def content_loss(features: jax.Array, targets: jax.Array) -> jax.Array:
  """L_content = 1/2 sum (F - P)^2 (Eq. 1); features, targets [H, W, C]."""
  if features.shape != targets.shape:
    raise ValueError(f"content features {features.shape} and targets {targets.shape} differ")
  return 0.5 * jnp.sum(jnp.square(features - targets))


@jax.custom_vjp
def _gram(f: jax.Array) -> jax.Array:
  return jnp.matmul(f.T, f, precision=_HIGHEST)


def _gram_fwd(f):
  return _gram(f), f


def _gram_bwd(f, g):
  # d(F^T F) = dF^T F + F^T dF, so the gradient is F (g + g^T): one product. Left to
  # itself, autodiff computes F g and F g^T separately (two [M, C] x [C, C] products).
  return (jnp.matmul(f, (g + g.T).astype(f.dtype), precision=_HIGHEST),)


_gram.defvjp(_gram_fwd, _gram_bwd)


def gram_matrix(features: jax.Array) -> jax.Array:
  """G = F F^T (Eq. 3): [H, W, C] -> [C, C], summed over the M = H*W positions."""
  if features.ndim != 3:
    raise ValueError(f"gram_matrix takes one image's features [H, W, C], got {features.shape}")
  f = features.reshape(-1, features.shape[-1])
  f = f.astype(jnp.promote_types(f.dtype, jnp.float32))  # Half-precision features: sum in f32.
  return _gram(f)


def style_layer_loss(gram: jax.Array, target_gram: jax.Array, num_positions: int) -> jax.Array:
  """E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2 (Eq. 4); N_l filters, M_l positions."""
  if gram.shape != target_gram.shape:
    raise ValueError(f"Gram matrices {gram.shape} and {target_gram.shape} differ")
  n = gram.shape[-1]
  return jnp.sum(jnp.square(gram - target_gram)) / (4.0 * n**2 * float(num_positions)**2)


def mean_gram_matrix(features: jax.Array, guide: jax.Array | None = None) -> jax.Array:
  """The Gram matrix per position, G / M: [H, W, C] -> [C, C].

  With a guide [H, W] (a region's mask at this layer's resolution, Gatys et al.,
  "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017), the features
  are multiplied by it first, (F o T)(F o T)^T, and the sum is divided by sum(T^2)
  instead of M: the Gram statistics of that region alone.
  """
  if guide is None:
    return gram_matrix(features) / float(features.shape[0] * features.shape[1])
  if guide.shape != features.shape[:2]:
    raise ValueError(f"guide {guide.shape} does not match features {features.shape}")
  guide = guide.astype(jnp.float32)
  gram = gram_matrix(features * guide[..., None].astype(features.dtype))
  return gram / jnp.maximum(jnp.sum(jnp.square(guide)), 1e-8)


def style_loss(features: Mapping[str, jax.Array], target_grams: Mapping[str, jax.Array],
               layer_weights: Mapping[str, float],
               guides: Mapping[str, jax.Array] | None = None) -> jax.Array:
  """L_style = sum_l w_l E_l (Eq. 5), E_l = 1/(4 N_l^2) sum (G/M - A/M')^2.

  `target_grams` are the style image's Gram matrices per position (A / M', see
  `mean_gram_matrix`). When the style image has as many positions as the generated one
  (M' = M) this is exactly Eq. 4; the paper only uses equal sizes. Comparing Gram
  matrices per position keeps the loss meaningful when the sizes differ (a scaled
  style image, another aspect ratio), where Eq. 4 taken literally would compare sums
  over different numbers of positions.

  Args:
    features: {layer: [H, W, C]} of the generated image.
    target_grams: {layer: [C, C]} per-position Gram matrices of the style image.
    layer_weights: {layer: w_l}; only these layers count.
    guides: optional {layer: [H, W]} spatial guides (see `mean_gram_matrix`).
  """
  total = jnp.zeros((), jnp.float32)
  for layer, weight in layer_weights.items():
    f = features[layer]
    gram = mean_gram_matrix(f, None if guides is None else guides[layer])
    if gram.shape != target_grams[layer].shape:
      raise ValueError(f"Gram matrices {gram.shape} and {target_grams[layer].shape} differ")
    n = f.shape[-1]
    total = total + weight * jnp.sum(jnp.square(gram - target_grams[layer])) / (4.0 * n**2)
  return total


def total_variation_loss(image: jax.Array) -> jax.Array:
  """sum of squared differences between vertical and horizontal neighbours; [H, W, C].

  Not in Gatys et al. 2016: the smoothness prior of Mahendran & Vedaldi (2015) with
  beta = 2, which later implementations add to suppress high-frequency noise.
  """
  dy = image[1:, :, :] - image[:-1, :, :]
  dx = image[:, 1:, :] - image[:, :-1, :]
  return jnp.sum(jnp.square(dy)) + jnp.sum(jnp.square(dx))


def total_loss(content: jax.Array, style: jax.Array, tv: jax.Array | float = 0.0, *,
               content_weight: float, style_weight: float, tv_weight: float = 0.0) -> jax.Array:
  """L_total = alpha L_content + beta L_style (Eq. 7), plus tv_weight * L_tv."""
  return content_weight * content + style_weight * style + tv_weight * tv


# --- Johnson et al.'s normalizations (Sec. 3.3), averaged over a batch ------------------


def batched_gram(features: jax.Array) -> jax.Array:
  """Gram matrices divided by the number of positions: [N, H, W, C] -> [N, C, C].

  Departs from Gatys et al.'s G = F F^T (Eq. 3): dividing by M = H*W makes the target
  (from the whole style image) comparable with the Grams of crops of another size.
  With it, `style_layer_loss(G/M, A/M, 1)` is exactly the paper's E_l (Eq. 4).
  """
  m = features.shape[1] * features.shape[2]
  return jax.vmap(gram_matrix)(features) / m


def feature_reconstruction_loss(features: jax.Array, targets: jax.Array) -> jax.Array:
  """Johnson's content loss, 1/(C H W) ||F - P||^2, averaged over the batch [B, H, W, C]."""
  if features.shape != targets.shape:
    raise ValueError(f"content features {features.shape} and targets {targets.shape} differ")
  return jnp.mean(jnp.square(features - targets))


def style_reconstruction_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
  """Johnson's style loss at one layer, 1/C^2 ||G - A||^2 with G = F F^T / (C H W),
  averaged over the batch; features [B, H, W, C], target_gram [C, C] = `batched_gram`
  of the style image (per position, not yet divided by C).

  Gatys et al.'s E_l (Eq. 4) is this times C^2 / 4, which weighs relu4_3 64x more than
  relu1_2 relative to Johnson's form.
  """
  c = features.shape[-1]
  return jnp.mean(jnp.square((batched_gram(features) - target_gram) / c))
