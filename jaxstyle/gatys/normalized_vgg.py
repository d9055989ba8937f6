"""The normalized VGG-19 of Gatys et al. (2016): mean activation of every filter = 1.

"We used the feature space provided by a normalised version of the 16 convolutional
and 5 pooling layers of the 19-layer VGG network. We normalized the network by
scaling the weights such that the mean activation of each convolutional filter over
images and positions is equal to one."

Scaling conv_l's output channel o by 1/m_l[o] (m_l: the mean of relu_l over the
images) and multiplying conv_{l+1}'s kernel along its input channel i by m_l[i]
undoes that scaling for the next layer. By induction every normalized feature equals
the original divided by a positive per-channel constant (ReLU and both poolings commute
with positive scaling), so one pass of the original network over the images gives every
m_l. The paper used ImageNet; we use whatever photos the user passes.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Callable, Iterable

import jax
import numpy as np

from jaxstyle import features as features_lib
from jaxstyle import images as images_lib
from jaxstyle.errors import UserError
from jaxstyle.nets.vgg import CONV_LAYERS
from jaxstyle.weights import NetworkWeights

RELU_LAYERS = tuple("relu" + name[4:] for name in CONV_LAYERS)


def mean_activations(weights: NetworkWeights, images: Iterable[np.ndarray], *,
                     pooling: str = "avg", kernels: str = "auto",
                     log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
  """Per-channel mean of every relu layer over all images and positions.

  Each position of each image counts once (larger images weigh more).
  """
  features = features_lib.feature_fn(weights.widths, weights.preprocessing, pooling,
                                     kernels=kernels)
  variables = features_lib.network_variables(weights, kernels)

  def channel_sums(variables, x):
    feats = features(variables, x[None], RELU_LAYERS)
    return {l: (f[0].sum(axis=(0, 1)), f.shape[1] * f.shape[2]) for l, f in feats.items()}

  channel_sums = jax.jit(channel_sums)
  sums = {l: 0.0 for l in RELU_LAYERS}
  counts = {l: 0 for l in RELU_LAYERS}
  n = 0
  for n, image in enumerate(images, start=1):
    for layer, (total, count) in channel_sums(variables, np.asarray(image, np.float32)).items():
      sums[layer] = sums[layer] + np.asarray(total, np.float64)
      counts[layer] += int(count)
    if log and n % 50 == 0:
      log(f"{n} images")
  if n == 0:
    raise UserError("no images to normalize the network on")
  return {l: np.asarray(sums[l] / counts[l]) for l in RELU_LAYERS}


def normalize(weights: NetworkWeights, images: Iterable[np.ndarray], *, pooling: str = "avg",
              source: str = "<arrays>", kernels: str = "auto",
              log: Callable[[str], None] | None = None) -> NetworkWeights:
  """Returns weights whose relu layers have mean activation 1 on `images`.

  Channels that never fire on the images (mean 0) are left unscaled.
  """
  means = mean_activations(weights, images, pooling=pooling, kernels=kernels, log=log)
  params = {}
  previous = np.ones(3)
  scales = {}
  for conv, relu in zip(CONV_LAYERS, RELU_LAYERS):
    m = np.where(means[relu] > 0, means[relu], 1.0)
    kernel = np.asarray(weights.params[conv]["kernel"], np.float64)
    kernel = kernel * previous[None, None, :, None] / m[None, None, None, :]
    bias = np.asarray(weights.params[conv]["bias"], np.float64) / m
    params[conv] = {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
    scales[conv] = m
    previous = m
  meta = dict(weights.meta)
  meta["normalization"] = {
      "method": "Gatys et al. 2016: mean ReLU activation of every filter = 1",
      "images": source, "pooling": pooling,
      "dead_channels": int(sum(np.sum(means[r] <= 0) for r in RELU_LAYERS)),
  }
  return dataclasses.replace(weights, params=params, meta=meta)


def normalize_directory(weights: NetworkWeights, directory: str | pathlib.Path, *,
                        image_size: int = 256, limit: int | None = None, pooling: str = "avg",
                        kernels: str = "auto", log: Callable[[str], None] = logging.info
                        ) -> NetworkWeights:
  """`normalize` on the photos under `directory`, each resized to `image_size`."""
  files = images_lib.find_images(directory, recursive=True, what="--images")[:limit]
  log(f"normalizing on {len(files)} images from {directory} at {image_size} px")

  def load_all() -> Iterable[np.ndarray]:
    for path in files:
      try:
        yield images_lib.load_image(path, image_size)
      except UserError as e:
        log(f"skipping {e}")

  source = f"{len(files)} images from {pathlib.Path(directory).name}/ at {image_size} px"
  return normalize(weights, load_all(), pooling=pooling, source=source, kernels=kernels,
                   log=log)
