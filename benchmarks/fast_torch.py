"""A PyTorch copy of jaxstyle.nets.johnson.ImageTransformNet, for benchmarks only.

Same layers in the same order (reflection padding, instance norm with affine, nearest
2x upsampling + conv, 0.5 + 150/255 tanh output clipped to [0, 1], input padded to a multiple of 4 and
the output cropped), with the weights copied from a jaxstyle model so that the two
outputs can be compared. Only the default network (instance norm, nearest upsampling)
is mirrored.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class _Conv(nn.Module):

  def __init__(self, cin, cout, kernel, stride=1):
    super().__init__()
    self.pad = kernel // 2
    self.conv = nn.Conv2d(cin, cout, kernel, stride)

  def forward(self, x):
    if self.pad:
      x = F.pad(x, (self.pad,) * 4, mode="reflect")
    return self.conv(x)


class _Residual(nn.Module):

  def __init__(self, c):
    super().__init__()
    self.conv1, self.norm1 = _Conv(c, c, 3), nn.InstanceNorm2d(c, affine=True, eps=1e-5)
    self.conv2, self.norm2 = _Conv(c, c, 3), nn.InstanceNorm2d(c, affine=True, eps=1e-5)

  def forward(self, x):
    y = F.relu(self.norm1(self.conv1(x)))
    return x + self.norm2(self.conv2(y))


class TorchTransformerNet(nn.Module):
  """NCHW in and out, RGB in [0, 1]."""

  def __init__(self, widths=(32, 64, 128), num_residual=5):
    super().__init__()
    w1, w2, w3 = widths
    self.down = nn.ModuleList([_Conv(3, w1, 9), _Conv(w1, w2, 3, 2), _Conv(w2, w3, 3, 2)])
    self.down_norm = nn.ModuleList([nn.InstanceNorm2d(c, affine=True, eps=1e-5)
                                    for c in (w1, w2, w3)])
    self.res = nn.ModuleList([_Residual(w3) for _ in range(num_residual)])
    self.up = nn.ModuleList([_Conv(w3, w2, 3), _Conv(w2, w1, 3)])
    self.up_norm = nn.ModuleList([nn.InstanceNorm2d(c, affine=True, eps=1e-5)
                                  for c in (w2, w1)])
    self.out = _Conv(w1, 3, 9)

  def forward(self, images):
    h, w = images.shape[2:]
    x = F.pad(images, (0, -w % 4, 0, -h % 4), mode="reflect") - 0.5
    for conv, norm in zip(self.down, self.down_norm):
      x = F.relu(norm(conv(x)))
    for block in self.res:
      x = block(x)
    for conv, norm in zip(self.up, self.up_norm):
      x = F.relu(norm(conv(F.interpolate(x, scale_factor=2, mode="nearest"))))
    x = torch.clamp(0.5 + (150.0 / 255.0) * torch.tanh(self.out(x)), 0.0, 1.0)
    return x[:, :, :h, :w]


def _set_conv(conv: nn.Conv2d, p) -> None:
  conv.weight.data = torch.from_numpy(np.ascontiguousarray(
      np.asarray(p["kernel"], np.float32).transpose(3, 2, 0, 1)))  # HWIO -> OIHW
  conv.bias.data = torch.from_numpy(np.array(p["bias"], np.float32))


def _set_norm(norm: nn.InstanceNorm2d, p) -> None:
  norm.weight.data = torch.from_numpy(np.array(p["scale"], np.float32))
  norm.bias.data = torch.from_numpy(np.array(p["bias"], np.float32))


def from_jax(config, variables) -> TorchTransformerNet:
  """The torch network holding a jaxstyle model's weights (default layers only)."""
  if config.norm != "instance" or config.upsample != "nearest":
    raise ValueError("the torch reference mirrors only norm=instance, upsample=nearest")
  params = variables["params"]
  net = TorchTransformerNet(config.widths, config.num_residual)
  for i in range(3):
    _set_conv(net.down[i].conv, params[f"down{i + 1}"]["conv"])
    _set_norm(net.down_norm[i], params[f"down{i + 1}_norm"])
  for i, block in enumerate(net.res):
    p = params[f"res{i + 1}"]
    _set_conv(block.conv1.conv, p["conv1"]["conv"])
    _set_norm(block.norm1, p["norm1"])
    _set_conv(block.conv2.conv, p["conv2"]["conv"])
    _set_norm(block.norm2, p["norm2"])
  for i in range(2):
    _set_conv(net.up[i].conv, params[f"up{i + 1}"]["conv"])
    _set_norm(net.up_norm[i], params[f"up{i + 1}_norm"])
  _set_conv(net.out.conv, params["out"]["conv"])
  return net.eval()
