r"""Feed-forward style network inference, jaxstyle vs a PyTorch copy, and training speed.

  pip install -e '.[bench]'          # adds torch==2.13.0 (CPU), for the reference only
  python -m benchmarks.fast                                    # this CPU: ~5 min
  python -m benchmarks.fast --impls=jax --sizes=1024 --batch=8 --name=fast_gpu   # a GPU

Both implementations run the same network (Johnson et al.'s, instance norm, nearest
upsampling) with the same weights (--model, else a random init) on the same square
image; the outputs are compared (max |jax - torch|). Measured, one after the other in
this process: median ms per image over --repeats calls after a warm-up (for JAX the
warm-up includes compilation, reported separately), at each --sizes; variants: jax
jitted NHWC (the library's path), torch NCHW, torch channels_last; and training steps/s
of `jaxstyle.johnson.training` (real VGG-19, batch --train_batch of --train_crop px crops).
Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np
from absl import app, flags, logging

from benchmarks import machine

flags.DEFINE_list("impls", ["jax", "torch"], "Implementations to measure.")
flags.DEFINE_list("sizes", ["256", "512", "1024"], "Square image sides, px.")
flags.DEFINE_list("repeats", ["10", "5", "3"], "Timed calls at each size.")
flags.DEFINE_integer("batch", 1, "Images per call.")
flags.DEFINE_string("model", None, "A model file (default: random weights).")
flags.DEFINE_integer("train_steps", 6, "Training steps timed (0: skip).")
flags.DEFINE_integer("train_crop", 128, "Training crop size, px.")
flags.DEFINE_integer("train_batch", 4, "Training batch.")
flags.DEFINE_string("dataset_dir", "../shared/datasets/bsds500", "Photos for training.")
flags.DEFINE_string("style", "../shared/images/starry_night.jpg", "Style for training.")
flags.DEFINE_list("torch_threads", ["1", "2"], "torch intra-op thread counts to measure "
                  "(on a shared, oversubscribed machine 1 thread can be far faster).")
flags.DEFINE_string("name", "fast_cpu", "Results go to benchmarks/results/NAME.json.")
FLAGS = flags.FLAGS


def _median_ms(fn, repeats: int) -> tuple[float, float]:
  """(first call ms, median ms of `repeats` later calls)."""
  t0 = time.perf_counter()
  fn()
  first = (time.perf_counter() - t0) * 1000
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append((time.perf_counter() - t0) * 1000)
  return first, float(np.median(times))


def _train_steps_per_s() -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jaxstyle import images  # pylint: disable=import-outside-toplevel
  from jaxstyle import images as images_lib  # pylint: disable=import-outside-toplevel
  from jaxstyle.features import network_variables  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import training as fast_train  # pylint: disable=import-outside-toplevel
  from jaxstyle import weights as weights_lib  # pylint: disable=import-outside-toplevel
  weights = weights_lib.ensure_default()
  config = fast_train.TrainConfig(batch_size=FLAGS.train_batch, crop_size=FLAGS.train_crop,
                                  style_weight=1e-3)
  targets = fast_train.style_targets(images.load_image(FLAGS.style, 256), config, weights)
  sampler = fast_train.CropSampler(images_lib.find_images(FLAGS.dataset_dir, recursive=True),
                                   crop_size=config.crop_size, resize=config.resize_to,
                                   seed=0)
  step = jax.jit(fast_train.make_train_step(config, weights))
  state = fast_train.init_state(config)
  batches = [jnp.asarray(sampler.batch(i, config.batch_size))
             for i in range(FLAGS.train_steps + 1)]
  t0 = time.perf_counter()
  state, losses = step(state, batches[0], targets, network_variables(weights))
  jax.block_until_ready(losses)
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  for b in batches[1:]:
    state, losses = step(state, b, targets, network_variables(weights))
  jax.block_until_ready(losses)
  seconds = time.perf_counter() - t0
  return {"crop": config.crop_size, "batch": config.batch_size, "steps": FLAGS.train_steps,
          "first_step_s": first, "steps_per_s": FLAGS.train_steps / seconds}


def main(argv):
  del argv
  import jax  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import models  # pylint: disable=import-outside-toplevel
  from jaxstyle.nets import johnson as transformer  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import load_model, stylize_fast  # pylint: disable=import-outside-toplevel

  started = time.time()
  if FLAGS.model:
    model = load_model(FLAGS.model)
  else:
    config = transformer.ImageTransformConfig()
    model = models.FastModel(config, transformer.init_variables(config, seed=0))
  results = {"machine": machine.describe(), "device": jax.devices()[0].device_kind,
             "jax": jax.__version__, "batch": FLAGS.batch, "inference": [],
             "model": FLAGS.model or "random init"}
  torch_net = None
  if "torch" in FLAGS.impls:
    import torch  # pylint: disable=import-outside-toplevel
    from benchmarks import fast_torch  # pylint: disable=import-outside-toplevel
    torch_net = fast_torch.from_jax(model.config, model.variables)
    results["torch"] = torch.__version__
  fwd = jax.jit(lambda v, x: models.apply(model.config, v, x)[0])
  for size, repeats in zip(map(int, FLAGS.sizes), map(int, FLAGS.repeats)):
    x = np.random.default_rng(0).uniform(size=(FLAGS.batch, size, size, 3)).astype(np.float32)
    row = {"size": size, "ms": {}, "first_call_ms": {}}
    if "jax" in FLAGS.impls:
      xj = jax.device_put(x)
      first, ms = _median_ms(lambda: fwd(model.variables, xj).block_until_ready(), repeats)
      row["ms"]["jax"], row["first_call_ms"]["jax"] = ms / FLAGS.batch, first
      out_jax = stylize_fast(model, x)
      logging.info("%d px jax: %.1f ms/image (first call %.0f ms)", size, ms / FLAGS.batch,
                   first)
    if torch_net is not None:
      xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
      for threads in map(int, FLAGS.torch_threads):
        torch.set_num_threads(threads)
        with torch.inference_mode():
          for layout in ("nchw", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            net, xin = torch_net.to(memory_format=fmt), xt.contiguous(memory_format=fmt)
            first, ms = _median_ms(lambda: net(xin), repeats)  # pylint: disable=cell-var-from-loop
            key = f"torch {layout} {threads} thread{'s' if threads > 1 else ''}"
            row["ms"][key], row["first_call_ms"][key] = ms / FLAGS.batch, first
            logging.info("%d px %s: %.1f ms/image", size, key, ms / FLAGS.batch)
          out_torch = torch_net.to(memory_format=torch.contiguous_format)(xt).numpy()
      if "jax" in row["ms"]:
        row["max_abs_diff"] = float(np.max(np.abs(out_jax - out_torch.transpose(0, 2, 3, 1))))
        best = min(v for k, v in row["ms"].items() if k.startswith("torch"))
        row["jax_over_best_torch"] = row["ms"]["jax"] / best
    results["inference"].append(row)
  if FLAGS.train_steps and "jax" in FLAGS.impls:
    results["training"] = _train_steps_per_s()
    logging.info("training: %.3f steps/s", results["training"]["steps_per_s"])
  results["seconds"] = time.time() - started
  out = pathlib.Path("benchmarks/results") / f"{FLAGS.name}.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(results, indent=1))
  print(table(results))


def table(results: dict) -> str:
  lines = ["| size | implementation | ms / image | jax / this |", "|---|---|---|---|"]
  for r in results["inference"]:
    jax_ms = r["ms"].get("jax")
    for key, ms in r["ms"].items():
      ratio = f"{jax_ms / ms:.2f}x" if jax_ms else "—"
      lines.append(f"| {r['size']} | {key} | {ms:.1f} | {ratio} |")
  lines += ["", "| size | jax / best torch | max abs diff jax vs torch |", "|---|---|---|"]
  for r in results["inference"]:
    if "jax_over_best_torch" in r:
      lines.append(f"| {r['size']} | {r['jax_over_best_torch']:.2f}x | "
                   f"{r['max_abs_diff']:.1e} |")
  if "training" in results:
    t = results["training"]
    lines += ["", f"Training (jax, real VGG-19, batch {t['batch']} of {t['crop']} px crops): "
              f"{t['steps_per_s']:.3f} steps/s (first step with compilation "
              f"{t['first_step_s']:.1f} s)."]
  return "\n".join(lines)


if __name__ == "__main__":
  app.run(main)
