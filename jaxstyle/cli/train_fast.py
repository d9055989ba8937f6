r"""Train a feed-forward style network (Johnson et al. 2016) from the command line.

  jaxstyle-train-fast --style=starry_night.jpg --dataset_dir=coco/train2014 \
      --output_dir=runs/starry --num_steps=40000 --crop_size=256

A thin absl shell over `jaxstyle.johnson.training.train`: it reads the style image and the
sample photos, and the library trains, checkpoints (OUTPUT_DIR/checkpoint.msgpack),
writes samples (OUTPUT_DIR/samples/), losses (OUTPUT_DIR/losses.json) and at the end
the model file (--model_out, default OUTPUT_DIR/model.msgpack). `--resume` continues a
killed run exactly; resuming a finished run only re-exports the model (e.g. with
another --model_dtype).
"""

from __future__ import annotations

import pathlib
import sys

from absl import flags

from jaxstyle.cli import common
from jaxstyle.errors import Interrupted, UserError

FLAGS = flags.FLAGS


def _define_flags():
  if "dataset_dir" in FLAGS:
    return
  from jaxstyle.johnson import training as fast_train  # pylint: disable=import-outside-toplevel
  flags.DEFINE_string("style", None, "Style image.")
  flags.DEFINE_integer("style_size", 256, "Longer side of the style image, px.", lower_bound=16)
  flags.DEFINE_string("dataset_dir", None, "Directory of training photos (searched "
                      "recursively; the paper: MS-COCO train2014).")
  flags.DEFINE_string("output_dir", None, "Checkpoint, samples, losses.json and the model.")
  flags.DEFINE_string("model_out", None, "Model file (default: OUTPUT_DIR/model.msgpack).")
  flags.DEFINE_enum("model_dtype", "float32", ["float32", "float16"],
                    "Precision of the stored model (it runs in float32 either way).")
  flags.DEFINE_boolean("resume", False, "Continue from OUTPUT_DIR/checkpoint.msgpack.")
  flags.DEFINE_integer("num_steps", 40000, "Training steps (the paper: 40k at batch 4).",
                       lower_bound=1)
  flags.DEFINE_integer("batch_size", 4, "Crops per step.", lower_bound=1)
  flags.DEFINE_integer("crop_size", 256, "Side of the square training crops, px.",
                       lower_bound=16)
  flags.DEFINE_integer("resize", None, "Shorter side of the photos before cropping "
                       "(default: 1.25 * crop_size).", lower_bound=16)
  flags.DEFINE_float("learning_rate", 1e-3, "Adam's learning rate.", lower_bound=0)
  flags.DEFINE_float("content_weight", 1.0, "alpha.", lower_bound=0)
  flags.DEFINE_float("style_weight", 5.0, "beta (Johnson et al.'s 5 with their loss "
                     "normalizations).", lower_bound=0)
  flags.DEFINE_float("tv_weight", 1e5, "Total-variation weight.", lower_bound=0)
  flags.DEFINE_float("saturation_weight", 1e5, "Weight of the penalty on tanh inputs "
                     "beyond the image range (keeps the output out of tanh's flat tails).",
                     lower_bound=0)
  flags.DEFINE_string("content_layer", fast_train.JOHNSON_CONTENT_LAYER, "Content layer.")
  flags.DEFINE_list("style_layers", list(fast_train.JOHNSON_STYLE_LAYERS), "Style layers.")
  flags.DEFINE_enum("pooling", "max", ["max", "avg"], "Pooling in VGG-19.")
  flags.DEFINE_enum("norm", "instance", ["instance", "batch"], "Normalization layers.")
  flags.DEFINE_enum("upsample", "nearest", ["nearest", "transpose"],
                    "nearest = nearest-neighbour 2x + conv; transpose = transposed conv.")
  flags.DEFINE_list("widths", ["32", "64", "128"], "Channels of the three down convs.")
  flags.DEFINE_integer("num_residual", 5, "Residual blocks.", lower_bound=0)
  flags.DEFINE_integer("seed", 0, "Network init, data order and crops.")
  flags.DEFINE_integer("checkpoint_every", 100, "Checkpoint every N steps.", lower_bound=1)
  flags.DEFINE_integer("sample_every", 100, "Sample images every N steps (0: at the end "
                       "only).", lower_bound=0)
  flags.DEFINE_list("samples", None, "Photos stylized into OUTPUT_DIR/samples/ "
                    "(default: the first two photos of --dataset_dir).")
  flags.DEFINE_integer("sample_size", 192, "Longer side of the sample photos, px.",
                       lower_bound=16)
  flags.DEFINE_integer("log_every", 10, "A progress line every N steps.", lower_bound=0)
  flags.DEFINE_string("weights", None, "VGG-19 weights .npz (default: fetched on first use).")


def _run() -> None:
  from jaxstyle import images  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import training as fast_train  # pylint: disable=import-outside-toplevel
  from jaxstyle.nets.johnson import ImageTransformConfig  # pylint: disable=import-outside-toplevel

  if not FLAGS.style or not FLAGS.dataset_dir or not FLAGS.output_dir:
    raise UserError("give --style, --dataset_dir and --output_dir")
  common.check_finite("learning_rate", "content_weight", "style_weight", "tv_weight",
                      "saturation_weight")
  common.check_positive("learning_rate")
  try:
    widths = tuple(int(w) for w in FLAGS.widths)
    config = fast_train.TrainConfig(
        net=ImageTransformConfig(widths=widths, num_residual=FLAGS.num_residual,
                                norm=FLAGS.norm, upsample=FLAGS.upsample),
        content_layer=FLAGS.content_layer, style_layers=tuple(FLAGS.style_layers),
        content_weight=FLAGS.content_weight, style_weight=FLAGS.style_weight,
        tv_weight=FLAGS.tv_weight, saturation_weight=FLAGS.saturation_weight,
        learning_rate=FLAGS.learning_rate,
        batch_size=FLAGS.batch_size, crop_size=FLAGS.crop_size, resize=FLAGS.resize,
        pooling=FLAGS.pooling, seed=FLAGS.seed)
  except ValueError as e:
    raise UserError(str(e)) from None
  style = images.load_image(FLAGS.style, FLAGS.style_size)
  sample_paths = FLAGS.samples or [str(p) for p in images.find_images(
      FLAGS.dataset_dir, recursive=True, what="dataset directory")[:2]]
  output_dir = pathlib.Path(FLAGS.output_dir)
  checkpoint = output_dir / fast_train.CHECKPOINT_NAME
  model_out = pathlib.Path(FLAGS.model_out or output_dir / "model.msgpack")
  common.refuse_overwriting_inputs([model_out], [FLAGS.style, *sample_paths, FLAGS.weights])
  if model_out.resolve() in (checkpoint.resolve(), (output_dir / "losses.json").resolve()):
    raise UserError(f"--model_out {model_out} is the run's own {model_out.name}: choose "
                    "another path")
  common.refuse_unwritable([checkpoint, output_dir / "losses.json",
                            output_dir / "samples" / "step_000000.jpg", model_out])
  samples = [images.load_image(p, FLAGS.sample_size) for p in sample_paths]
  weights = (weights_lib.load(FLAGS.weights) if FLAGS.weights
             else weights_lib.ensure_default())
  try:
    fast_train.train(
        config, style, FLAGS.dataset_dir, FLAGS.output_dir, weights=weights,
        num_steps=FLAGS.num_steps, resume=FLAGS.resume,
        checkpoint_every=FLAGS.checkpoint_every, sample_every=FLAGS.sample_every,
        sample_images=samples, log_every=FLAGS.log_every, model_path=model_out,
        model_dtype=FLAGS.model_dtype, kernels=FLAGS.kernels, precision=FLAGS.precision,
        model_meta={"style": FLAGS.style, "style_size": FLAGS.style_size,
                    "dataset_dir": FLAGS.dataset_dir, "command": " ".join(sys.argv)})
  except KeyboardInterrupt as e:  # The library's message says what it saved.
    kept = (f"the checkpoint {checkpoint} is kept; continue with --resume"
            if checkpoint.exists() else "nothing was saved")
    raise Interrupted(str(e) or f"interrupted; {kept}") from None


main, run = common.entry_point(
    _define_flags, _run,
    interrupted="interrupted before training started; nothing was written")


if __name__ == "__main__":
  run()
