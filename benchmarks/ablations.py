r"""Side-by-side timings of implementation choices, one process, same inputs.

  python -m benchmarks.ablations --size=256 --repeats=10      # this CPU: ~3 min

Each variant times one jitted value-and-grad of the Gatys objective (content conv4_2,
style conv1_1..conv5_1, VGG-19 up to conv5_1) and reports the median and its ratio to
the first variant:
  - pooling: flax `max_pool` (XLA reduce_window, gradient by select-and-scatter) vs
    jaxstyle.nets.vgg.pool_2x2 (reshape + max, gradient by an elementwise mask);
  - loop: the same evaluation as a plain jitted call vs inside `lax.fori_loop` (how a
    solver's jitted `run` would call it), per evaluation;
  - kernels: what jaxstyle does on top of plain autodiff, removed one at a time from the
    full implementation: derived kernels made once (backward kernels and Winograd
    transforms; without them XLA re-derives the backward kernels in every evaluation),
    Winograd F(4x4, 3x3) for the wide layers (and F(2x2, 3x3) in its place), the one-product Gram gradient, the
    max-pool gradient without a forward mask.
"""

import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

import jaxstyle
from jaxstyle import images, losses
from jaxstyle.kernels import vgg_cpu, winograd
from jaxstyle.nets import vgg
from jaxstyle.features import network_variables

flags.DEFINE_integer("size", 256, "Longer side, px.")
flags.DEFINE_integer("repeats", 10, "Timed evaluations per variant (after a warm-up).")
flags.DEFINE_string("content", "../shared/images/tubingen.jpg", "Content image.")
flags.DEFINE_string("style", "../shared/images/starry_night.jpg", "Style image.")
flags.DEFINE_string("output", None, "Also write the results here as JSON.")
FLAGS = flags.FLAGS


def _reduce_window_pool(x, mode):
  if mode == "max":
    return nn.max_pool(x, (2, 2), strides=(2, 2))
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _f2(kernel):
  """The derived Winograd kernels of F(2x2, 3x3) (conv3x3 reads the tile off them)."""
  u = winograd.kernel_transform(kernel, 2)
  return {"winograd": u, "winograd_t": u.swapaxes(1, 2)}


def _median_seconds(fn, *args):
  jax.block_until_ready(fn(*args))  # Compile and warm up.
  times = []
  for _ in range(FLAGS.repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def main(argv):
  del argv
  weights = jaxstyle.weights.load_default()
  content = images.load_image(FLAGS.content, FLAGS.size)
  style = images.load_image(FLAGS.style, FLAGS.size)
  config = jaxstyle.ObjectiveConfig()
  targets = jaxstyle.compute_targets(content, [style], config, weights)
  x = jaxstyle.gatys.transfer.noise_images([0], content.shape)[0]
  params = network_variables(weights)
  results = {}

  def value_and_grad():
    loss_fn = jaxstyle.make_loss_fn(config, weights)
    return jax.jit(jax.value_and_grad(lambda x, t, p: loss_fn(x, t, p)[0]))

  original = vgg.pool_2x2
  try:
    vgg.pool_2x2 = _reduce_window_pool
    results["pooling: reduce_window (flax max_pool)"] = _median_seconds(
        value_and_grad(), x, targets, params)
  finally:
    vgg.pool_2x2 = original
  results["pooling: reshape + max (pool_2x2)"] = _median_seconds(
      value_and_grad(), x, targets, params)

  plain = value_and_grad()
  loss_fn = jaxstyle.make_loss_fn(config, weights)
  grad_fn = jax.value_and_grad(lambda x, t, p: loss_fn(x, t, p)[0])
  n = 3

  @jax.jit
  def in_loop(x, t, p):
    def body(_, carry):
      x, _ = carry
      v, g = grad_fn(x, t, p)
      return x - 1e-12 * g, v
    return jax.lax.fori_loop(0, n, body, (x, jnp.zeros(())))

  results["loop: plain jitted call"] = _median_seconds(plain, x, targets, params)
  results["loop: inside lax.fori_loop (per evaluation)"] = _median_seconds(
      in_loop, x, targets, params) / n

  full = params
  no_winograd = {"params": params["params"],
                 "derived": {k: {"kernel_t": v["kernel_t"]} for k, v in params["derived"].items()}}
  plain_gram = lambda f: jnp.matmul(f.T, f, precision="highest")  # Autodiff's gradient.
  plain_pool = lambda x: jnp.max(x, axis=(2, 4))  # jnp.max's gradient (tie-splitting mask).
  results["kernels: all of jaxstyle's"] = _median_seconds(value_and_grad(), x, targets, full)
  results["kernels: without derived kernels (re-derived per evaluation)"] = _median_seconds(
      value_and_grad(), x, targets, {"params": params["params"]})
  results["kernels: without Winograd"] = _median_seconds(value_and_grad(), x, targets,
                                                         no_winograd)
  f2 = {k: dict(v, **_f2(params["params"][k]["kernel"])) if "winograd" in v else v
        for k, v in params["derived"].items()}
  results["kernels: Winograd F(2x2) instead of F(4x4)"] = _median_seconds(
      value_and_grad(), x, targets, {"params": params["params"], "derived": f2})
  for label, module, name, replacement in (
      ("kernels: without the one-product Gram gradient", losses, "_gram", plain_gram),
      ("kernels: without the mask-free max-pool gradient", vgg, "_max_pool_blocks",
       plain_pool)):
    original = getattr(module, name)
    try:
      setattr(module, name, replacement)
      jaxstyle.gatys.objective._make_loss_fn.cache_clear()  # pylint: disable=protected-access
      jaxstyle.gatys.objective._features_fn.cache_clear()  # pylint: disable=protected-access
      results[label] = _median_seconds(value_and_grad(), x, targets, full)
    finally:
      setattr(module, name, original)
      jaxstyle.gatys.objective._make_loss_fn.cache_clear()  # pylint: disable=protected-access
      jaxstyle.gatys.objective._features_fn.cache_clear()  # pylint: disable=protected-access

  base = {}
  print(f"| variant ({FLAGS.size} px, {jax.default_backend()}) | ms per value-and-grad | ratio |")
  print("|---|---|---|")
  for name, seconds in results.items():
    group = name.split(":")[0]
    base.setdefault(group, seconds)
    print(f"| {name} | {seconds * 1000:.0f} | {seconds / base[group]:.2f}x |")
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump({"size": FLAGS.size, "backend": jax.default_backend(),
                 "seconds": results}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
