"""Hand-tuned implementations of the networks' layers, plugged in per backend.

The networks in `jaxstyle.nets` say what they compute with plain XLA operations
("xla"): on GPUs and TPUs XLA hands those to cuDNN or the matrix units, which choose
their own algorithms. The modules here ("cpu") compute the same functions in forms
that XLA:CPU runs faster (Winograd transforms, derived kernels, blocked large
kernels, custom gradients); benchmarks/README.md says by how much. Tests check that
both give the same features, outputs and gradients.
"""

from __future__ import annotations

import jax

from jaxstyle.checks import one_of

KERNELS = ("auto", "xla", "cpu")


def resolve(kernels: str = "auto") -> str:
  """"xla" or "cpu": `auto` picks "cpu" on the CPU backend and "xla" elsewhere."""
  one_of("kernels", kernels, KERNELS)
  if kernels == "auto":
    return "cpu" if jax.default_backend() == "cpu" else "xla"
  return kernels
