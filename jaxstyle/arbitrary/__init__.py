"""Ghiasi et al. (BMVC 2017): arbitrary style in one forward pass, on Magenta's weights.

`inference` (style vectors, stylizing arrays and files). The networks are
`jaxstyle.nets.arbitrary`, their weights `jaxstyle.weights.arbitrary`, their CPU kernels
`jaxstyle.kernels.arbitrary_cpu`; the command is `jaxstyle-arbitrary`.
"""

from jaxstyle.arbitrary.inference import (MAX_IMAGE_SIZE, STYLE_SIZE, blend_vectors,
                                          load_style_vector, output_shape, predict,
                                          style_input, style_vector, stylize_arbitrary,
                                          stylize_files_arbitrary, transform)

__all__ = ["style_vector", "load_style_vector", "blend_vectors", "stylize_arbitrary", "transform",
           "predict", "stylize_files_arbitrary", "style_input", "output_shape", "STYLE_SIZE",
           "MAX_IMAGE_SIZE"]
