r"""`jaxstyle-fast`: real-time style transfer with a trained feed-forward network.

  jaxstyle-fast --model=models/starry_night.msgpack --content=photo.jpg --output=out.jpg
  jaxstyle-fast --model=models/the_scream.msgpack --content=photos/ --output=styled/

A directory is processed in one run: a file that cannot be read is reported and
skipped, and a summary (images done, failed, ms per image) ends the run. The library
is jaxstyle.johnson.inference.
"""

from __future__ import annotations


import jax
from absl import flags, logging

from jaxstyle.cli import common
from jaxstyle.errors import UserError
from jaxstyle.file_batch import list_inputs
from jaxstyle.johnson.inference import load_model, stylize_files
from jaxstyle.nets.johnson import count_params

FLAGS = flags.FLAGS


def _define_flags():
  if "model" in FLAGS:
    return
  flags.DEFINE_string("model", None, "Model file from `jaxstyle-train-fast`.")
  flags.DEFINE_string("content", None, "An image, or a directory of images.")
  flags.DEFINE_string("output", None, "Output image (for one --content image) or directory "
                      "(for a directory: OUTPUT/NAME.EXT per input).")
  flags.DEFINE_string("ext", ".jpg", "Extension of the outputs in a directory run.")
  flags.DEFINE_integer("image_size", None, "Resize so the longer side is this many px "
                       "(default: the input's size).", lower_bound=16)


def _run() -> None:
  if not FLAGS.model or not FLAGS.content or not FLAGS.output:
    raise UserError("give --model, --content and --output")
  inputs = list_inputs(FLAGS.content)
  outputs = common.file_outputs(FLAGS.content, FLAGS.output, FLAGS.ext, inputs)
  common.check_outputs(outputs, [*inputs, FLAGS.model])
  model = load_model(FLAGS.model)
  logging.info("model %s (%s norm, %s upsampling, %d parameters) on %s", FLAGS.model,
               model.config.norm, model.config.upsample,
               count_params(model.variables), jax.devices()[0].device_kind)
  report = stylize_files(model, inputs, outputs, image_size=FLAGS.image_size,
                         kernels=FLAGS.kernels, precision=FLAGS.precision)
  common.print_files_report(report)


main, run = common.entry_point(_define_flags, _run)


if __name__ == "__main__":
  run()
