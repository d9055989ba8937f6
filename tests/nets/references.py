"""VGG-16 and AlexNet in torchvision's form, as the tests run them, and their NumPy
references written from the formulas (float64, one tap at a time): shared by the network
tests (tests/nets/) and LPIPS's (tests/metrics/test_lpips.py)."""

import numpy as np

from jaxstyle import images as images_lib
from jaxstyle.nets import alexnet, vgg16

MODULES = {"vgg16": vgg16.VGG16, "alexnet": alexnet.AlexNet}
NETS = {"vgg16": vgg16, "alexnet": alexnet}


def features(weights, images, layers, **kwargs):
  x = images_lib.preprocess(images, weights.preprocessing)
  model = MODULES[weights.network](widths=weights.widths, **kwargs)
  return model.apply({"params": weights.params}, x, tuple(layers))


def np_conv(x, kernel, bias, stride=1, pad=0):
  """Cross-correlation, NHWC x HWIO, zero padding: the formula, one tap at a time."""
  x = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  oh = (x.shape[1] - k) // stride + 1
  ow = (x.shape[2] - k) // stride + 1
  out = np.zeros((x.shape[0], oh, ow, kernel.shape[3])) + bias
  for i in range(k):
    for j in range(k):
      patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      out += patch @ kernel[i, j].astype(np.float64)
  return out


def np_max_pool(x, window, stride):
  oh = (x.shape[1] - window) // stride + 1
  ow = (x.shape[2] - window) // stride + 1
  return np.max([x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                 for i in range(window) for j in range(window)], axis=0)


def np_alexnet(params, x):
  out = {}
  for name in alexnet.LAYER_NAMES:
    if name.startswith("conv"):
      k, s, p = alexnet.CONVS[name]
      x = np_conv(x, params[name]["kernel"], params[name]["bias"], s, p)
    elif name.startswith("relu"):
      x = np.maximum(x, 0)
    else:
      x = np_max_pool(x, 3, 2)
    out[name] = x
  return out


def np_vgg16(params, x, pooling):
  out = {}
  for name in vgg16.LAYER_NAMES:
    if name.startswith("conv"):
      x = np_conv(x, params[name]["kernel"], params[name]["bias"], 1, 1)
    elif name.startswith("relu"):
      x = np.maximum(x, 0)
    else:
      n, h, w, c = x.shape
      x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
      x = x.max(axis=(2, 4)) if pooling == "max" else x.mean(axis=(2, 4))
    out[name] = x
  return out
