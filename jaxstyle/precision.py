"""The convolutions' numeric precision: one setting, applied by every network.

  "float32"        float32 operands and accumulation on every backend
                   (`lax.Precision.HIGHEST`). Without it XLA rounds convolution
                   operands to TF32 on NVIDIA GPUs since Ampere, and to one bfloat16
                   pass on TPUs.
  "tensorfloat32"  `lax.Precision.HIGH`: TF32 operands on NVIDIA GPUs, three bfloat16
                   passes on TPUs; on CPUs the same as float32.
  "bfloat16"       operands cast to bfloat16 explicitly (so the rounding is the same
                   on every backend, CPUs included), float32 accumulation and outputs.

Gram matrices and losses are always float32 (`losses`). The hand-written CPU kernels
(Winograd) are used in float32 only: their transforms lose far more than a direct
convolution when the operands are rounded.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.checks import one_of

PRECISIONS = ("float32", "tensorfloat32", "bfloat16")
_LAX = {"float32": jax.lax.Precision.HIGHEST, "tensorfloat32": jax.lax.Precision.HIGH,
        "bfloat16": jax.lax.Precision.DEFAULT}


def check(precision: str) -> str:
  one_of("precision", precision, PRECISIONS)
  return precision


def conv(x: jax.Array, kernel: jax.Array, precision: str = "float32", *,
         strides: tuple[int, int] = (1, 1), padding="SAME") -> jax.Array:
  """NHWC x HWIO convolution at `precision`, float32 out."""
  check(precision)
  kwargs = {}
  if precision == "bfloat16":
    kwargs["preferred_element_type"] = jnp.promote_types(x.dtype, jnp.float32)
    x, kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
  # (preferred_element_type only where the operands are cast: given with float32
  # operands it sends XLA:CPU to a convolution 2x slower.)
  return jax.lax.conv_general_dilated(
      x, kernel, strides, padding, precision=_LAX[precision],
      dimension_numbers=("NHWC", "HWIO", "NHWC"), **kwargs)


def lax_precision(precision: str) -> jax.lax.Precision:
  """The `lax.Precision` of a setting (for products the kernels write themselves)."""
  return _LAX[check(precision)]
