"""Gatys, Ecker & Bethge (CVPR 2016): style transfer by optimizing the pixels.

`transfer` (the `stylize` API, which orchestrates the rest), `config` (`StylizeConfig`),
`presets` (the paper's and the tools' settings as configs), `objective` (targets and the
loss), `solvers` (the pixel optimizers' registry; `lbfgs`, the in-place L-BFGS),
`optimize` (`minimize`: the loop over seeds and device calls), `pyramid` (the
coarse-to-fine schedule), `inputs` (input checks; the style images' scale, rotation and
colors), `start` (the starting images), `memory` (the memory estimate and its check),
`normalized_vgg` (the paper's normalized network).
"""
