"""Gatys, Ecker & Bethge (CVPR 2016): style transfer by optimizing the pixels.

`objective` (targets and the loss), `lbfgs` and `optimize` (the optimizers, seeds,
steps per device call), `transfer` (the `stylize` API), `presets` (the paper's
settings), `normalized_vgg` (the paper's normalized network).
"""
