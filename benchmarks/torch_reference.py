"""A PyTorch implementation of exactly jaxstyle's objective, for benchmarks only.

Same VGG-19 weights (read from jaxstyle's .npz), same Caffe preprocessing, same
losses (content 1/2 sum (F - P)^2 at conv4_2; Gram losses 1/(4 N^2) sum (G/M - A/M')^2
at conv1_1..conv5_1 with w_l = 1/5: Eq. 4 when the style image has the output's size,
Gram matrices per position otherwise, as jaxstyle compares them), optimized the way the
PyTorch tools do: torch.optim.LBFGS with lr=1, history 100 and no line search (one
evaluation per iteration). `loss_scale` multiplies the loss the optimizer sees (the
PyTorch tools' losses are means, many orders of magnitude below the paper's sums);
reported losses are always the paper's. Needs the benchmark extra:
pip install -e '.[bench]'.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from jaxstyle.images import CAFFE_MEAN_BGR
from jaxstyle.nets.vgg import LAYER_NAMES


class TorchVGG19(torch.nn.Module):
  """VGG-19 up to a given layer, NCHW, weights from jaxstyle's HWIO arrays."""

  def __init__(self, params: dict, pooling: str = "max"):
    super().__init__()
    self.pooling = pooling
    self.kernels = {}
    self.biases = {}
    for name, p in params.items():
      self.kernels[name] = torch.from_numpy(
          np.ascontiguousarray(np.asarray(p["kernel"]).transpose(3, 2, 0, 1)))
      self.biases[name] = torch.from_numpy(np.asarray(p["bias"]))

  def forward(self, x: torch.Tensor, layers) -> dict:
    wanted = set(layers)
    last = max(LAYER_NAMES.index(l) for l in layers)
    out = {}
    for name in LAYER_NAMES[: last + 1]:
      if name.startswith("conv"):
        x = F.conv2d(x, self.kernels[name], self.biases[name], padding=1)
      elif name.startswith("relu"):
        x = F.relu(x)
      elif self.pooling == "max":
        x = F.max_pool2d(x, 2, 2)
      else:
        x = F.avg_pool2d(x, 2, 2)
      if name in wanted:
        out[name] = x
    return out


def preprocess(images_nhwc: np.ndarray) -> torch.Tensor:
  """RGB [0, 1] NHWC -> Caffe input NCHW (BGR, 0-255, mean subtracted)."""
  x = torch.from_numpy(np.ascontiguousarray(images_nhwc, np.float32)).permute(0, 3, 1, 2)
  return x.flip(1) * 255.0 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)


def gram(f: torch.Tensor) -> torch.Tensor:
  n, c, h, w = f.shape
  f = f.reshape(n, c, h * w)
  return f @ f.transpose(1, 2)


class Objective:
  """alpha * content + beta * style for a batch of images (the seeds), summed."""

  def __init__(self, model, content, style, *, content_layers=("conv4_2",),
               style_layers=("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
               content_weight=1.0, style_weight=100.0):
    self.model = model
    self.content_layers = tuple(content_layers)
    self.style_layers = tuple(style_layers)
    self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
    self.alpha, self.beta = content_weight, style_weight
    with torch.no_grad():
      c = model(preprocess(content[None]), self.content_layers)
      s = model(preprocess(style[None]), self.style_layers)
      self.content_targets = {l: c[l] for l in self.content_layers}
      self.grams = {l: gram(s[l]) / (s[l].shape[2] * s[l].shape[3])  # Per position.
                    for l in self.style_layers}

  def __call__(self, x_rgb_nchw: torch.Tensor):
    x = x_rgb_nchw.flip(1) * 255.0 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    feats = self.model(x, self.layers)
    content = sum(0.5 * ((feats[l] - self.content_targets[l]) ** 2).sum(dim=(1, 2, 3))
                  for l in self.content_layers)
    style = 0.0
    for l in self.style_layers:
      f = feats[l]
      n, m = f.shape[1], f.shape[2] * f.shape[3]
      e = ((gram(f) / m - self.grams[l]) ** 2).sum(dim=(1, 2)) / (4.0 * n * n)
      style = style + e / len(self.style_layers)
    per_seed = self.alpha * content + self.beta * style
    return per_seed.sum(), per_seed.detach()


def run_lbfgs(objective: Objective, x0_nhwc: np.ndarray, num_steps: int,
              history_size: int = 100, clock=None, line_search: str | None = None,
              loss_scale: float = 1.0):
  """torch.optim.LBFGS, lr=1, one evaluation per step without a line search.

  line_search="strong_wolfe" uses torch's Wolfe line search (more evaluations per
  step). Either way the history holds, per step, the first evaluation of the step: the
  loss at the point the step starts from (trial points of a line search are left out).

  Returns (final images NHWC, per-seed loss history [steps + 1, S], times [steps + 1]).
  """
  import time  # pylint: disable=import-outside-toplevel
  clock = clock or time.perf_counter
  x = torch.from_numpy(np.ascontiguousarray(x0_nhwc, np.float32)).permute(0, 3, 1, 2)
  x = x.contiguous().requires_grad_(True)
  opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=history_size,
                          line_search_fn=line_search, tolerance_grad=-1.0,
                          tolerance_change=-1.0)
  losses, times = [], []
  step_starts = []
  start = clock()

  def closure():
    opt.zero_grad()
    total, per_seed = objective(x)
    (total * loss_scale).backward()
    losses.append(per_seed.numpy().copy())
    times.append(clock() - start)
    return total * loss_scale

  for _ in range(num_steps + 1):  # Each step evaluates at the current point, then moves.
    step_starts.append(len(losses))
    opt.step(closure)
  return (x.detach().permute(0, 2, 3, 1).numpy(),
          np.stack([losses[i] for i in step_starts]),
          np.asarray([times[i] for i in step_starts]), len(losses))
