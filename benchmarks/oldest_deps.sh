#!/usr/bin/env bash
# The oldest dependencies jaxstyle works with: the lower bounds in pyproject.toml, tested.
#
#   benchmarks/oldest_deps.sh                     # the floors, on python3.11 (or PYTHON=...)
#   PYTHON=/root/.pyenv/versions/3.13.0/bin/python NUMPY=2.1.0 PILLOW=10.4.0 \
#       benchmarks/oldest_deps.sh                 # Python 3.13, as on Colab's TPU image
#   FLAX=0.9.0 benchmarks/oldest_deps.sh          # one other candidate floor
#
# Creates a fresh venv under /tmp (removed at the end; KEEP=1 keeps it), installs the
# project editable with every direct dependency pinned to its floor
# (`pip install -e . "jax==X" "jaxlib==X" "flax==Y" ...`; wheels only, so that pip
# backtracks to transitive versions that have wheels instead of compiling them), prints
# what pip resolved for them, and runs the fast unit tests of the losses, the objective,
# the VGG, its kernels, the optimizer and the transfer (`TESTS` below) on CPU. About 1 min
# to install with a warm pip cache and 1.5 min of tests on 2 shared CPU cores.
# Exit status: pip's or pytest's.
#
# Why these candidates:
#   - jax 0.7.2 is what Colab's TPU image ships (Python 3.13, no jaxopt): the floor that
#     matters most. jax 0.7.x needs Python >= 3.11 and numpy >= 2.0.
#   - flax and optax releases have their own minimum jax (flax 0.8.0-0.10.4: >=0.4.19 to
#     0.4.27, 0.10.7-0.11.2: >=0.6.0, 0.12.0: >=0.7.1, 0.12.1-0.12.6: >=0.8.1, 0.12.7:
#     >=0.10.0; optax 0.2.3-0.2.5: >=0.4.27, 0.2.6: >=0.5.3), so every flax/optax tried
#     installs beside jax 0.7.2. (The newest flax that does is 0.12.0: the Colab notebook
#     pins jax to the runtime's so that pip picks it instead of replacing jax.)
#   - The code needs jax.random.key, jax.tree.map, jax.sharding, flax.linen,
#     flax.serialization, optax.lbfgs.
#
# Tries (Linux x86-64, 2 CPU cores, newest pip, wheels from PyPI; jaxopt 0.8.5 in all;
# transitive versions as pip resolved them: chex 0.1.90, orbax-checkpoint 0.12.8,
# tensorstore 0.1.86, ml_dtypes 0.6.0, scipy 1.17.1 (1.18.1 on 3.13)):
#   Python 3.11.7, jax 0.7.2, numpy 2.0.0, pillow 10.0.0, absl-py 1.4.0, and
#     flax 0.8.0,  optax 0.2.3: FAIL: flax imports jax.experimental.maps (gone).
#     flax 0.8.5,  optax 0.2.3: FAIL, 13 tests: flax reads trace.level, gone from jax.
#     flax 0.9.0,  optax 0.2.4: FAIL, 19 tests: the same.
#     flax 0.10.0, optax 0.2.3: FAIL: optax.lbfgs diverges (loss 7e9 -> 5e26) in
#                               test_optimize's and test_transfer's optax_lbfgs cases
#                               (and the two tests below).
#     flax 0.10.0, optax 0.2.4: PASS (56 passed) but for the two tests below.
#   Python 3.11.7, jax 0.7.2 with the newest that install beside it (flax 0.12.0,
#     optax 0.2.8, numpy 2.4.6, pillow 13.0.0, absl-py 2.5.1): the same two tests fail,
#     nothing else: they are about jax.
#   Python 3.11.7, jax 0.8.0, flax 0.10.0, optax 0.2.4, numpy 2.0.0, pillow 10.0.0,
#     absl-py 1.4.0: PASS but for test_seeds_are_independent (58 passed, 1 failed).
#   Python 3.13.0, jax 0.7.2, flax 0.10.0, optax 0.2.4, absl-py 1.4.0, and
#     numpy 2.0.0 / pillow 10.0.0: no cp313 wheels (numpy from 2.1.0, pillow from 10.4.0).
#     numpy 2.1.0, pillow 10.4.0: PASS (57 passed, the two below deselected).
#   Python 3.10.13: jax 0.7.2 cannot be installed (Requires-Python >=3.11).
#   Final, the defaults below, Python 3.11.7: PASS (57 passed, 2 deselected).
# (The runs above name the test files of their time; issue 28 moved them: tests/README.md.)
# Two tests asked for more than the library does; both were then fixed in the tests
# (the tries above deselected them):
#   - test_losses.py::test_finite_difference_gradient uses `jax.enable_x64`, new in jax
#     0.8.0 (0.7.x has jax.experimental.enable_x64, removed in 0.9.0). With that one
#     line changed it passes on jax 0.7.2.
#   - test_optimize.py::test_seeds_are_independent compares a seed run alone with the
#     same seed in a batch at rtol=1e-4; float32 summation order differs by 4.1e-4 in
#     the loss at step 14 of 15 (0.036029 vs 0.036044) on jax 0.7.2 through 0.10.1 and
#     meets 1e-4 from jax 0.10.2 (tried 0.7.2, 0.8.0, 0.8.2, 0.9.0, 0.9.2, 0.10.0,
#     0.10.1, 0.10.2). At rtol=1e-3 (now the test's) it passes on jax 0.7.2.
# So pyproject.toml says: requires-python >=3.11, jax>=0.7.2, flax>=0.10, optax>=0.2.4,
# numpy>=2.0, pillow>=10, absl-py>=1.4.
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
JAX=${JAX:-0.7.2}
FLAX=${FLAX:-0.10.0}
OPTAX=${OPTAX:-0.2.4}
NUMPY=${NUMPY:-2.0.0}
PILLOW=${PILLOW:-10.0.0}
ABSL=${ABSL:-1.4.0}
JAXOPT=${JAXOPT:-0.8.5}  # pinned exactly in pyproject.toml (its last release)
TESTS=(tests/test_losses.py tests/gatys/test_objective.py tests/nets/test_vgg.py
       tests/test_features.py tests/kernels/test_vgg_cpu.py tests/kernels/test_winograd.py
       tests/gatys/test_optimize.py tests/gatys/test_lbfgs.py tests/gatys/test_transfer.py
       tests/gatys/test_start.py tests/gatys/test_memory.py)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/jaxstyle-oldest-deps.XXXXXX)
if [[ "${KEEP:-0}" != 1 ]]; then
  trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

"$PYTHON" -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
echo "== $("$PY" --version) in $WORK/venv"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet --only-binary=:all: -e . \
    "jax==$JAX" "jaxlib==$JAX" "flax==$FLAX" "optax==$OPTAX" "numpy==$NUMPY" \
    "pillow==$PILLOW" "absl-py==$ABSL" "jaxopt==$JAXOPT" pytest
echo "== resolved"
"$PY" -m pip list --format=freeze 2>/dev/null | grep -iE \
    '^(jax|jaxlib|flax|optax|jaxopt|chex|orbax-checkpoint|tensorstore|numpy|scipy|ml.dtypes|pillow|absl-py)=='

echo "== tests"
JAX_PLATFORMS=cpu "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
