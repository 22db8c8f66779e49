#!/usr/bin/env bash
# The GPU figures, in under 8 minutes on one GPU: the throughput table, LEO's update
# speed-up and one short learning run per flagship learner. Results land beside the
# CPU files as *_gpu.json (the device name is in each file's "machine" block);
# the learning runs' metrics go to benchmarks/results/gpu_runs/.
#
#   bash benchmarks/run_on_gpu.sh            # from the repository root, jax[cuda] installed
#
# Each part has its own time limit, so one slow part cannot eat the others' time.
set -u
cd "$(dirname "$0")/.."
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/omnigym-jax}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
results=benchmarks/results
python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(d.device_kind)" || exit 1
start=$(date +%s)
part() {  # part SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s, at $(( $(date +%s) - start ))s)"
  timeout "$limit" "$@" || echo "!! $name stopped (exit $?)"
}
# 1. Throughput of every JAX id at 1024 and 4096 envs (the GPU's sizes).
part 240 throughput python benchmarks/bench_throughput.py --num-envs 1024 4096 --rounds 2 \
  --vmap-num-envs 1024
# 2. LEO's all-goals update against naive all-goals relabelling, paper torso.
part 60 leo_update python benchmarks/bench_leo_update.py --batch 128 --repeats 5
# 3. One short learning run per flagship learner, on its paper preset's env.
mkdir -p "$results/gpu_runs"
for run in "leo --env Craftax-Classic-GC-v0" "degen --env UED-Maze-v0" \
           "rspg --env MFG-LinearQuadratic-v0" "pbt_nca --env PDNCA-v0"; do
  name=${run%% *}
  part 35 "train $name" python -m omnigym.cli train $run --preset paper --max-updates 2 \
    --out "$results/gpu_runs/$name"
done
echo "== done in $(( $(date +%s) - start ))s"
