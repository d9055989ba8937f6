"""Flax networks that say what they compute, in plain XLA operations: VGG-19 (`vgg`)
and Johnson et al.'s image transformation network (`johnson`). Faster forms for a
backend plug in from `jaxstyle.kernels`."""
