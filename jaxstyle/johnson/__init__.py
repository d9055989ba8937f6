"""Johnson, Alahi & Fei-Fei (ECCV 2016): a feed-forward network trained per style.

`training` (the perceptual loss, data, checkpoints, the loop), `models` (the network
with its kernels, model files) and `inference` (stylizing arrays and files). The
network itself is `jaxstyle.nets.johnson`.
"""

from jaxstyle.johnson.inference import stylize_fast, stylize_files
from jaxstyle.johnson.models import FastModel, load_model, save_model

__all__ = ["FastModel", "load_model", "save_model", "stylize_fast",
           "stylize_files"]
