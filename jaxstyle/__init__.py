"""jaxstyle: neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in JAX."""

from jaxstyle.cache import enable_compilation_cache
from jaxstyle.errors import UserError
from jaxstyle.features import extract_features
from jaxstyle.images import contact_sheet, load_image, save_image
from jaxstyle.objective import ObjectiveConfig, compute_targets, make_loss_fn
from jaxstyle.optimize import minimize
from jaxstyle.transfer import StylizeResult, stylize
from jaxstyle.vgg import LAYER_NAMES, VGG19
from jaxstyle.weights import VGGWeights
from jaxstyle import cache, images, weights

__all__ = [
    "LAYER_NAMES", "ObjectiveConfig", "StylizeResult", "UserError", "VGG19", "VGGWeights",
    "cache", "compute_targets", "contact_sheet", "enable_compilation_cache",
    "extract_features", "load_image", "make_loss_fn", "images", "minimize", "save_image",
    "stylize", "weights",
]
__version__ = "0.1.0"
