r"""One benchmark configuration in a fresh process (so peak memory is its own).

  python -m benchmarks.worker --impl=jax --method=lbfgs --size=256 --seeds=1 --steps=50

Prints one JSON line: fixed costs (import, weights, targets, compile), per-step
times, losses, evaluations per step, peak RSS. benchmarks/gatys.py runs it for
every configuration; run it by hand to look at one.
"""

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_enum("impl", "jax", ["jax", "torch"], "Implementation.")
flags.DEFINE_string("method", "lbfgs", "jax: lbfgs | lbfgs_zoom | optax_lbfgs | adam; "
                    "torch: lbfgs (torch.optim.LBFGS, lr=1, no line search) | "
                    "lbfgs_wolfe (its strong Wolfe line search).")
flags.DEFINE_integer("size", 256, "Longer side, px.")
flags.DEFINE_integer("seeds", 1, "White-noise starts optimized together.")
flags.DEFINE_integer("steps", 50, "Iterations.")
flags.DEFINE_integer("history", 100, "L-BFGS memory (both implementations).")
flags.DEFINE_string("content", "../shared/images/tubingen.jpg", "Content image.")
flags.DEFINE_string("style", "../shared/images/starry_night.jpg", "Style image.")
flags.DEFINE_string("weights", None, "Weights .npz (default: jaxstyle's default file).")
flags.DEFINE_float("loss_scale", 1.0, "torch: the optimizer sees the loss times this "
                   "(the PyTorch tools' mean-based losses are far smaller than the paper's).")
flags.DEFINE_string("compilation_cache", None, "jax: JAX's persistent compilation cache "
                    "directory, as jaxstyle's commands use (default: none).")
flags.DEFINE_integer("threads", 0, "torch.set_num_threads (0: torch's default).")
flags.DEFINE_integer("tile_size", None, "jax: evaluate the loss in tiles of this many px "
                     "(jaxstyle.gatys.tiling; default: untiled).")
flags.DEFINE_integer("steps_per_call", None, "jax: optimizer steps per device call "
                     "(default: the backend's, 1 on CPU).")
FLAGS = flags.FLAGS


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _inputs():
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jaxstyle import images  # pylint: disable=import-outside-toplevel
  content = images.load_image(FLAGS.content, FLAGS.size)
  style = images.load_image(FLAGS.style, FLAGS.size)
  rng = np.random.default_rng(0)  # The same white noise for both implementations.
  x0 = (0.5 + 0.1 * rng.standard_normal((FLAGS.seeds,) + content.shape)).astype(np.float32)
  return content, style, x0


def run_jax() -> dict:
  t = {}
  import jax  # pylint: disable=import-outside-toplevel
  import jaxstyle  # pylint: disable=import-outside-toplevel
  from jaxstyle.features import network_variables  # pylint: disable=import-outside-toplevel
  if FLAGS.compilation_cache:
    jaxstyle.cache.enable_compilation_cache(FLAGS.compilation_cache)
  t["import_s"] = time.perf_counter() - _T0
  s = time.perf_counter()
  weights = (jaxstyle.weights.load(FLAGS.weights) if FLAGS.weights
             else jaxstyle.weights.load_default())
  t["weights_s"] = time.perf_counter() - s
  content, style, x0 = _inputs()
  config = jaxstyle.ObjectiveConfig(content_weight=1.0, style_weight=100.0,
                                    content_normalization="sum")  # As torch_reference.
  s = time.perf_counter()
  targets = jaxstyle.compute_targets(content, [style], config, weights,
                                     tile_size=FLAGS.tile_size)
  jax.block_until_ready(targets)
  t["targets_s"] = time.perf_counter() - s
  loss_fn = jaxstyle.make_loss_fn(config, weights, tile_size=FLAGS.tile_size)
  method, linesearch = FLAGS.method, None
  if method == "lbfgs_zoom":
    method, linesearch = "lbfgs", "zoom"
  variables = network_variables(weights, layers=config.all_layers)  # As stylize holds them.
  result = jaxstyle.minimize(loss_fn, x0, (targets, variables), method=method,
                             num_steps=FLAGS.steps, history_size=FLAGS.history,
                             linesearch=linesearch, log_every=0,
                             steps_per_call=FLAGS.steps_per_call)
  t["first_step_s"] = float(result.history["time"][1])  # Includes compiling.
  return dict(t, shape=list(content.shape[:2]),
              losses=result.history["total"].tolist(), times=result.history["time"].tolist(),
              evaluations=result.evaluations, device=jax.devices()[0].device_kind,
              backend=jax.default_backend(), version=jax.__version__)


def run_torch() -> dict:
  t = {}
  import numpy as np  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  if FLAGS.threads:
    torch.set_num_threads(FLAGS.threads)
  from benchmarks import torch_reference as ref  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  t["import_s"] = time.perf_counter() - _T0
  s = time.perf_counter()
  weights = weights_lib.load(FLAGS.weights) if FLAGS.weights else weights_lib.load_default()
  model = ref.TorchVGG19(weights.params)
  t["weights_s"] = time.perf_counter() - s
  content, style, x0 = _inputs()
  s = time.perf_counter()
  objective = ref.Objective(model, content, style, content_weight=1.0, style_weight=100.0)
  t["targets_s"] = time.perf_counter() - s
  line_search = "strong_wolfe" if FLAGS.method == "lbfgs_wolfe" else None
  _, losses, times, evaluations = ref.run_lbfgs(objective, x0, FLAGS.steps,
                                                history_size=FLAGS.history,
                                                line_search=line_search,
                                                loss_scale=FLAGS.loss_scale)
  t["first_step_s"] = float(times[1])
  return dict(t, losses=np.asarray(losses).tolist(), times=np.asarray(times).tolist(),
              evaluations=evaluations, device="cpu", backend="cpu",
              version=torch.__version__, threads=torch.get_num_threads(),
              loss_scale=FLAGS.loss_scale)


def main(argv):
  del argv
  out = run_jax() if FLAGS.impl == "jax" else run_torch()
  out.update(impl=FLAGS.impl, method=FLAGS.method, size=FLAGS.size, seeds=FLAGS.seeds,
             steps=FLAGS.steps, history=FLAGS.history, tile_size=FLAGS.tile_size,
             peak_rss_mb=_peak_rss_mb())
  sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
  app.run(main)
