"""Named settings: the paper's, so that `--preset=gatys2016` means exactly Gatys et al. 2016.

Each preset maps CLI flag names to values; flags given on the command line win.
"""

from __future__ import annotations

from jaxstyle.gatys.objective import DEFAULT_STYLE_LAYERS

NORMALIZED_WEIGHTS = "normalized"  # Resolved to jaxstyle.weights.normalized_path().

PRESETS: dict[str, dict[str, object]] = {
    # Gatys, Ecker & Bethge, CVPR 2016, Section 2 and Figure 3.
    "gatys2016": {
        "weights": NORMALIZED_WEIGHTS,       # "a normalised version of ... VGG-19"
        "pooling": "avg",                    # "replacing the max-pooling ... by average pooling"
        "content_layers": ["conv4_2"],       # "the content representation on layer conv4_2"
        "style_layers": list(DEFAULT_STYLE_LAYERS),  # conv1_1, conv2_1, ..., conv5_1
        "style_layer_weights": ["0.2"] * 5,  # "w_l = 1/5 in those layers"
        "content_normalization": "sum",      # L_content = 1/2 sum (F - P)^2 (Eq. 1)
        "style_loss": "gram",                # Eq. 3-5
        "content_weight": 1.0,               # alpha/beta = 1e-3 (Figure 3)
        "style_weight": 1e3,
        "tv_weight": 0.0,                    # No total variation term in the paper.
        "optimizer": "lbfgs",                # "we found L-BFGS to work best"
        "init": "noise",                     # "initialised ... from a white noise image"
        "scales": 1,                         # One size throughout.
        "image_size": 512,                   # "image size of 512 x 512 pixels" (longer side here)
    },
    # Photorealistic transfer (Figure 7): alpha/beta = 1e-2, start from the content photo.
    "gatys2016_photo": {
        "weights": NORMALIZED_WEIGHTS,
        "pooling": "avg",
        "content_layers": ["conv4_2"],
        "style_layers": list(DEFAULT_STYLE_LAYERS),
        "style_layer_weights": ["0.2"] * 5,
        "content_normalization": "sum",
        "style_loss": "gram",
        "content_weight": 1.0,
        "style_weight": 1e2,
        "tv_weight": 0.0,
        "optimizer": "lbfgs",
        "init": "content",
        "scales": 1,
        "image_size": 512,
    },
}
