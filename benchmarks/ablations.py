r"""Side-by-side timings of implementation choices, one process, same inputs.

  python -m benchmarks.ablations --size=256 --repeats=10      # this CPU: ~3 min

Each variant times one jitted value-and-grad of the Gatys objective (content conv4_2,
style conv1_1..conv5_1, VGG-19 up to conv5_1) and reports the median and its ratio to
the first variant of its group. Variants are built by plugging modules into
`nets.vgg.VGG19` (as `kernels="cpu"` does), never by patching the library:
  - kernels: plain XLA ("xla") against the CPU plug-ins ("cpu", the default there);
  - pooling: flax `max_pool` (XLA reduce_window, gradient by select-and-scatter) vs
    nets.vgg.pool_2x2 (reshape + max) vs kernels.vgg_cpu.pool_2x2 (gradient without a
    forward mask);
  - loop: the same evaluation as a plain jitted call vs inside `lax.fori_loop` (how a
    solver's jitted loop, e.g. --steps_per_call, would call it), per evaluation;
  - cpu: the CPU plug-ins with one piece removed at a time: derived kernels made once
    (without them the backward kernels are re-derived in every evaluation), Winograd
    F(4x4, 3x3) for the wide layers (and F(2x2, 3x3) in its place); and the
    one-product Gram gradient of `losses.gram_matrix` against autodiff's.
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
from jaxstyle.features import network_variables
from jaxstyle.kernels import vgg_cpu, winograd
from jaxstyle.nets import vgg

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


def _autodiff_gram(features):
  f = features.reshape(-1, features.shape[-1])
  return jnp.matmul(f.T, f, precision="highest")


def _f2(kernel):
  """The derived Winograd kernels of F(2x2, 3x3) (conv3x3 reads the tile off them)."""
  u = winograd.kernel_transform(kernel, 2)
  return {"winograd": u}


def _median_seconds(fn, *args):
  jax.block_until_ready(fn(*args))  # Compile and warm up.
  times = []
  for _ in range(FLAGS.repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def _value_and_grad(weights, targets, *, conv, pool, gram=losses.gram_matrix):
  """The paper's loss (alpha 1, beta 100) on VGG19(conv=conv, pool=pool), jitted."""
  config = jaxstyle.ObjectiveConfig()
  model = vgg.VGG19(widths=weights.widths, pooling=config.pooling, conv=conv, pool=pool)
  layer_weights = config.layer_weights

  def loss(x, variables):
    feats = model.apply(variables, images.preprocess(x[None], weights.preprocessing),
                        config.all_layers)
    content = losses.content_loss(feats["conv4_2"][0], targets["content"]["conv4_2"])
    style = 0.0
    for layer, w in layer_weights.items():
      f = feats[layer][0]
      g = gram(f) / (f.shape[0] * f.shape[1])
      style += w * jnp.sum(jnp.square(g - targets["style"][0][layer])) / (4.0 * f.shape[-1]**2)
    return content + 100.0 * style

  return jax.jit(jax.value_and_grad(loss))


def main(argv):
  del argv
  weights = jaxstyle.weights.load_default()
  content = images.load_image(FLAGS.content, FLAGS.size)
  style = images.load_image(FLAGS.style, FLAGS.size)
  targets = jaxstyle.compute_targets(content, [style], jaxstyle.ObjectiveConfig(), weights)
  x = jaxstyle.gatys.start.noise_images([0], content.shape)[0]
  plain = network_variables(weights, "xla")
  full = network_variables(weights, "cpu")
  cpu = dict(conv=vgg_cpu.Conv3x3, pool=vgg_cpu.pool_2x2)
  xla = dict(conv=vgg.Conv3x3, pool=vgg.pool_2x2)
  results = {}
  time_it = lambda variables, **modules: _median_seconds(
      _value_and_grad(weights, targets, **modules), x, variables)

  results["kernels: xla (plain XLA)"] = time_it(plain, **xla)
  results["kernels: cpu (the CPU plug-ins)"] = time_it(full, **cpu)

  results["pooling: reduce_window (flax max_pool)"] = time_it(
      plain, conv=vgg.Conv3x3, pool=_reduce_window_pool)
  results["pooling: reshape + max (nets.vgg.pool_2x2)"] = time_it(plain, **xla)
  results["pooling: mask-free gradient (kernels.vgg_cpu.pool_2x2)"] = time_it(
      plain, conv=vgg.Conv3x3, pool=vgg_cpu.pool_2x2)

  grad_fn = _value_and_grad(weights, targets, **cpu)
  n = 3

  @jax.jit
  def in_loop(x, v):
    def body(_, carry):
      x, _ = carry
      value, g = grad_fn(x, v)
      return x - 1e-12 * g, value
    return jax.lax.fori_loop(0, n, body, (x, jnp.zeros(())))

  results["loop: plain jitted call"] = _median_seconds(grad_fn, x, full)
  results["loop: inside lax.fori_loop (per evaluation)"] = _median_seconds(in_loop, x, full) / n

  no_winograd = {"params": full["params"],
                 "derived": {k: {"kernel_t": v["kernel_t"]} for k, v in full["derived"].items()}}
  f2 = {k: dict(v, **_f2(full["params"][k]["kernel"])) if "winograd" in v else v
        for k, v in full["derived"].items()}
  results["cpu: all of the CPU plug-ins"] = time_it(full, **cpu)
  results["cpu: without derived kernels (re-derived per evaluation)"] = time_it(
      {"params": full["params"]}, **cpu)
  results["cpu: without Winograd"] = time_it(no_winograd, **cpu)
  results["cpu: Winograd F(2x2) instead of F(4x4)"] = time_it(
      {"params": full["params"], "derived": f2}, **cpu)
  results["cpu: without the one-product Gram gradient"] = time_it(
      full, gram=_autodiff_gram, **cpu)

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
