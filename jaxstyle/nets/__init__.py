"""Flax networks that say what they compute, in plain XLA operations: the feature
networks VGG-19 (`vgg`), VGG-16 (`vgg16`) and AlexNet (`alexnet`), Johnson et al.'s
image transformation network (`johnson`) and the arbitrary-style networks of Ghiasi et
al. (`arbitrary`). Faster forms for a backend plug in from `jaxstyle.kernels`."""
