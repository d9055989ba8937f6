"""jaxstyle: neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in JAX."""

from jaxstyle.errors import UserError
from jaxstyle.features import extract_features
from jaxstyle.images import contact_sheet, load_image, save_image
from jaxstyle.objective import ObjectiveConfig, compute_targets, make_loss_fn
from jaxstyle.optimize import minimize
from jaxstyle.transfer import StylizeResult, stylize
from jaxstyle.vgg import LAYER_NAMES, VGG19
from jaxstyle.weights import VGGWeights
from jaxstyle import images, weights

__all__ = [
    "LAYER_NAMES", "ObjectiveConfig", "StylizeResult", "UserError", "VGG19", "VGGWeights",
    "compute_targets", "contact_sheet", "extract_features", "load_image", "make_loss_fn",
    "images", "minimize", "save_image", "stylize", "weights",
]
__version__ = "0.1.0"
