r"""The same algorithm on other feature networks: VGG-19, VGG-16 and AlexNet.

  python -m experiments.networks                    # 256 px, 300 steps each: ~6 min on 2 CPU cores
  python -m experiments.networks --image_size=512   # ~20 min

The studies that followed Gatys et al. ran the algorithm unchanged on other ImageNet
networks. One photo (Tübingen) and one painting (The Starry Night), jaxstyle's defaults
(the mean content loss, the content photo as the start, L-BFGS) on each network with its
default layers (`jaxstyle.features.FEATURE_NETWORKS`: VGG-19 and VGG-16 content conv4_2,
style conv1_1 ... conv5_1; AlexNet content conv4, style conv1 ... conv5). Each network's
style weight is the quality benchmark's calibration (its features have other scales:
torchvision's VGG-16 needs 5000x VGG-19's beta): --style_weights (alpha = 1). Writes
OUTPUT_DIR/networks.jpg (the photo, the painting, one result per network) and
OUTPUT_DIR/networks.json.

Expect: VGG-19 and VGG-16 both paint the photo with the sky's swirls, much alike;
AlexNet (stride 4 at its first layer, 11x11 filters) lays a checkerboard texture over
it and keeps less of the photo, in a tenth of the time.
"""

from __future__ import annotations

from absl import app, flags

from experiments import common
from jaxstyle import features

flags.DEFINE_list("networks", list(features.FEATURE_NETWORKS), "Feature networks.")
flags.DEFINE_list("style_weights", ["vgg19=1e-3", "vgg16=5", "alexnet=0.6"],
                  "beta per network (alpha = 1), NETWORK=VALUE: the quality benchmark's "
                  "calibration (benchmarks/quality.py CALIBRATED).")
FLAGS = flags.FLAGS


def run():
  rec = common.Recorder("networks", features.load_weights("vgg19"))
  content, style = common.load(FLAGS.content), common.load(FLAGS.style)
  rec.add_image(content, "content")
  rec.add_image(style, "style")
  weights = dict(item.split("=", 1) for item in FLAGS.style_weights)
  for network in FLAGS.networks:
    rec.weights = features.load_weights(network)
    rec.stylize(network, content, style, network=network, init="content",
                content_normalization="mean", style_weight=float(weights[network]),
                scales=1)
  rec.write(columns=len(FLAGS.networks) + 2)


if __name__ == "__main__":
  common.define_flags(image_size=256, num_steps=300)
  app.run(common.main_wrapper(run))
