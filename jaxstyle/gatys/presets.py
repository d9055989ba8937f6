"""Named settings as `StylizeConfig`s: the paper's, so that `--preset=gatys2016` means
exactly Gatys et al. 2016, the authors' released code, and the recipes of two PyTorch
tools, so that a comparison with them is one flag.

  jaxstyle.preset("gatys2016")                       # a StylizeConfig
  jaxstyle.stylize(content, style, jaxstyle.preset("crowsonkb"), num_steps=300)
  jaxstyle --preset=gatys2016 ...                     # flags given explicitly win

The same objects serve the API, the CLI and the benchmarks (`benchmarks.quality`'s
recipe runs).
"""

from __future__ import annotations

import math

from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.objective import DEFAULT_STYLE_LAYERS
from jaxstyle.nets.vgg import layer_width

RELU_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_WIDTHS = [layer_width(l, (64, 128, 256, 512, 512)) for l in RELU_STYLE_LAYERS]
# Our VGG-19 takes Caffe input (BGR, 0-255, mean subtracted), the PyTorch tools'
# torchvision input ((x - mean) / std, std ~0.226): the same picture enters about
# 255 * 0.226 = 58 times larger, so the features, to first order, are 58 times larger
# too. A recipe made for torchvision features is restated in our units with this
# factor (an estimate: the two VGG-19s were trained separately).
TORCHVISION_FEATURE_SCALE = 255.0 * 0.226

_crowsonkb_layers = [w / sum((256, 64, 16, 4, 1)) for w in (256, 64, 16, 4, 1)]

_RECIPES = {
    # crowsonkb/style-transfer-pytorch's defaults (its `StyleTransfer.stylize`, with the
    # mean-and-covariance loss its README recommends): Adam lr 0.02, betas 0.9/0.99,
    # clamped to [0, 1] after every step, the output the iterates' average (decay 0.99);
    # sizes from 128 px up in sqrt(2) steps, 1000 steps at the first and 500 at each
    # later one, Adam's state carried over (resized); content from the photo.
    "crowsonkb": {
        "optimizer": "adam", "learning_rate": 0.02, "adam_betas": (0.9, 0.99),
        "clamp": True, "average_decay": 0.99,
        "scale_factor": math.sqrt(2.0), "coarsest_size": 128, "num_steps": 1000,
        "finer_steps": 500, "carry_state": True, "init": "content", "pooling": "max",
        "content_layers": ("relu4_2",), "style_layers": RELU_STYLE_LAYERS,
        # 256:64:16:4:1, normalized; divided by C_l because its W2 is a mean over the
        # channels where `losses.style_distance`'s is a sum.
        "style_layer_weights": tuple(w / c for w, c in zip(_crowsonkb_layers, _WIDTHS)),
        "style_loss": "mean_cov",
        # Its terms are quadratic (style), linear (scaled content) and independent (TV)
        # of the feature scale: beta 1, alpha 0.015, TV 2 (a mean) in its units.
        "style_weight": 1.0 / TORCHVISION_FEATURE_SCALE**2,
        "content_normalization": "scaled",
        "content_weight": 0.015 / TORCHVISION_FEATURE_SCALE,
        "tv_weight": 2.0, "tv_normalization": "mean",
    },
    # jcjohnson/neural-style's defaults (Caffe VGG-19 like ours, so no unit change):
    # L-BFGS with 100 pairs and unit steps, 1000 iterations at one size, content 5 at
    # relu4_2 with a mean squared error, style 100 with Gram / (C H W) compared by mean
    # squared error (= 4 / C_l^2 times our E_l), TV 1e-3 on 0-255 pixels with the
    # gradient of 1/2 sum of squared differences (= 1e-3 * 255^2 / 2 on our [0, 1]
    # pixels, summed). Its start is the mean pixel with 1e-3 noise; ours white noise.
    "neural_style": {
        "optimizer": "lbfgs", "lbfgs_history": 100, "num_steps": 1000, "scales": 1,
        "init": "noise", "pooling": "max",
        "content_layers": ("relu4_2",), "style_layers": RELU_STYLE_LAYERS,
        "style_layer_weights": tuple(4.0 / c**2 for c in _WIDTHS),
        "style_loss": "gram", "content_normalization": "mean",
        "content_weight": 5.0, "style_weight": 100.0,
        "tv_weight": 1e-3 * 255.0**2 / 2, "tv_normalization": "sum",
    },
}


# Gatys, Ecker & Bethge, CVPR 2016, Section 2 and Figure 3.
_PAPER = dict(
    weights_file="normalized",           # "a normalised version of ... VGG-19"
    pooling="avg",                       # "replacing the max-pooling ... by average pooling"
    content_layers=("conv4_2",),         # "the content representation on layer conv4_2"
    style_layers=DEFAULT_STYLE_LAYERS,   # conv1_1, conv2_1, ..., conv5_1
    style_layer_weights=(0.2,) * 5,      # "w_l = 1/5 in those layers"
    content_normalization="sum",         # L_content = 1/2 sum (F - P)^2 (Eq. 1)
    style_loss="gram",                   # Eq. 3-5
    content_weight=1.0,                  # alpha/beta = 1e-3 (Figure 3)
    style_weight=1e3,
    tv_weight=0.0,                       # No total variation term in the paper.
    optimizer="lbfgs",                   # "we found L-BFGS to work best"
    init="noise",                        # "initialised ... from a white noise image"
    scales=1,                            # One size throughout.
    image_size=512,                      # "image size of 512 x 512 pixels" (longer side here)
)

# The authors' released code (leongatys/PytorchNeuralStyleTransfer,
# NeuralStyleTransfer.ipynb): Gram matrices divided by the number of positions, compared
# by mean squared error (a mean over the N_l^2 entries) at relu1_1 ... relu5_1 with
# layer weights 1e3 / N_l^2; content by mean squared error at relu4_2, weight 1; max
# pooling; L-BFGS (history 100, unit steps) for 500 evaluations from the photo; 512 px on
# the shorter side. Our E_l is 1/(4 N_l^2) sum (G/M - A/M)^2, so their layer term
# 1e3/N_l^2 * sum (G/M - A/M)^2 / N_l^2 is 4e3/N_l^2 * E_l. Their normalized network
# (vgg_conv.pth) is not on PyPI: ours, made with max pooling as theirs pools by max
# (`python -m jaxstyle.weights normalize --pooling=max`), stands in for it.
_CODE = dict(
    weights_file="normalized_max", pooling="max",
    content_layers=("relu4_2",), style_layers=RELU_STYLE_LAYERS,
    style_layer_weights=tuple(4e3 / n**2 for n in _WIDTHS),
    style_loss="gram", content_normalization="mean", content_weight=1.0, style_weight=1.0,
    tv_weight=0.0, optimizer="lbfgs", lbfgs_history=100, num_steps=500, init="content",
    scales=1, image_size=512, image_side="shorter",
)

PRESETS: dict[str, StylizeConfig] = {
    "gatys2016": StylizeConfig().replace(**_PAPER),
    # Photorealistic transfer (Figure 7): alpha/beta = 1e-2, start from the content photo.
    "gatys2016_photo": StylizeConfig().replace(**dict(_PAPER, style_weight=1e2,
                                                      init="content")),
    "gatys2016_code": StylizeConfig().replace(**_CODE),
    # Both tools' default size.
    **{name: StylizeConfig().replace(**recipe, image_size=512)
       for name, recipe in _RECIPES.items()},
}
# The peers' recipes (the benchmark's "recipe:NAME" runs).
RECIPE_NAMES = tuple(_RECIPES)


def preset(name: str) -> StylizeConfig:
  """The named settings (PRESETS), a `StylizeConfig`; ValueError naming the others."""
  if name not in PRESETS:
    raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
  return PRESETS[name]
