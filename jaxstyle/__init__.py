"""jaxstyle: neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in JAX.

Layout: `nets` (the Flax networks, plain XLA), `kernels` (hand-tuned plug-ins per
backend), `weights` (weight files), `images`, `color`, `losses`, `features` (the one
path to VGG-19), `gatys` (optimization-based transfer), `johnson` (the feed-forward
network), `video`, and `cli` (the commands; nothing else imports it).
"""

from jaxstyle import cache, images, kernels, precision, weights
from jaxstyle.cache import enable_compilation_cache
from jaxstyle.errors import Interrupted, UserError
from jaxstyle.features import extract_features
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, make_loss_fn
from jaxstyle.gatys.optimize import minimize
from jaxstyle.gatys.presets import preset
from jaxstyle.gatys.transfer import StylizeResult, stylize
from jaxstyle.images import contact_sheet, load_image, save_image
from jaxstyle.nets.vgg import LAYER_NAMES, VGG19
from jaxstyle.weights import NetworkWeights

__all__ = [
    "Interrupted", "LAYER_NAMES", "ObjectiveConfig", "StylizeConfig", "StylizeResult", "UserError", "VGG19",
    "NetworkWeights", "cache", "compute_targets", "contact_sheet", "enable_compilation_cache",
    "extract_features", "images", "kernels", "load_image", "make_loss_fn", "minimize",
    "precision", "preset", "save_image", "stylize", "weights",
]
__version__ = "0.1.0"
