"""The starting images of a Gatys run: white noise per seed, or one given image.

Gatys et al. start from white noise without stating its amplitude; jaxstyle draws
N(0.5, NOISE_STD^2) per pixel and channel, one PRNG key per seed (a small amplitude
converges to cleaner images in fewer steps than uniform [0, 1] noise). The other starts
are an image: the photo, the style, a given image, or the arbitrary-style network's
output (`arbitrary_start`).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.images import resize_to

NOISE_STD = 0.1


def noise_images(seeds: Sequence[int], shape: Sequence[int]) -> jax.Array:
  """White-noise starting images [len(seeds), *shape], one PRNG key per seed."""
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
  noise = jax.vmap(lambda k: jax.random.normal(k, tuple(shape), jnp.float32))(keys)
  return 0.5 + NOISE_STD * noise


def arbitrary_start(arbitrary_weights, content: np.ndarray, style: np.ndarray, *,
                    kernels: str = "auto", precision: str = "float32") -> np.ndarray:
  """init="arbitrary"'s start: `content` [H, W, 3] stylized with `style` by the
  arbitrary-style network, at the content's size."""
  from jaxstyle import arbitrary  # pylint: disable=import-outside-toplevel
  return arbitrary.stylize_arbitrary(arbitrary_weights, content, style,
                                     image_size=max(content.shape[:2]), kernels=kernels,
                                     precision=precision)


def initial_images(start: np.ndarray | None, seeds: Sequence[int], h: int, w: int
                   ) -> jax.Array:
  """[S, h, w, 3]: white noise per seed (start None), or the starting image resized
  ([1, h, w, 3], shared by the seeds)."""
  if start is None:
    return noise_images(seeds, (h, w, 3))
  return jnp.asarray(resize_to(start, h, w))[None]
