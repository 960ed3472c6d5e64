#!/usr/bin/env bash
# Data-parallel scaling of lm.train on one host with several GPUs (issue 10 item 2). Needs the CLI built
# against a CUDA LibTorch (tests/gpu/build_and_test.sh or the gpu-headless preset) and the shared data.
#   BUILD=/tmp/atomscope-gpu DATA=<shared data> bash tests/bench/lm/scaling_gpu.sh
# 1. NCCL correctness: a small model, float32, 2 processes against 1 on the same global batch: the loss
#    curves must agree (different reduction order only).
# 2. Throughput: a Llama of 85M parameters (dim 768, 12 layers, context 1024, bf16 autocast), PER_GPU
#    sequences per GPU, on 1 GPU and on N GPUs (weak scaling: the global batch grows with N), and on N GPUs
#    with the 1-GPU global batch (strong scaling). Steady-state tokens/s from metrics.jsonl (first STEPS/5
#    steps and the last step, which validates, left out). Efficiency = tokens/s on N / (N x tokens/s on 1).
# CPU dry run: DEVICE=cpu NGPU=2 STEPS=10 PER_GPU=2 DIM=32 LAYERS=2 HEADS=2 HIDDEN=64 CONTEXT=32 BUILD=build/dev ...
# 3. The reference: the same shape in PyTorch DistributedDataParallel (ddp_reference.py, torchrun).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu}
DATA=${DATA:-$SRC/../shared/data}
OUT=${OUT:-/tmp/out}
STEPS=${STEPS:-150}
export PER_GPU=${PER_GPU:-16}
DEVICE=${DEVICE:-cuda}
DIM=${DIM:-768}; LAYERS=${LAYERS:-12}; HEADS=${HEADS:-12}; HIDDEN=${HIDDEN:-2048}; CONTEXT=${CONTEXT:-1024}
export DIM LAYERS HEADS HIDDEN CONTEXT
N=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
W=$OUT/lm_scaling; mkdir -p "$W"
# NVLink multicast stays off (device machine rule): NCCL, PyTorch symmetric memory and NVSHMEM.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
data=(--param data="$DATA/text/tinystories/tinystories_train_head_2MiB.txt" --param tokenizer="$DATA/lm/tok512.bin"
      --param family=llama --param val_fraction=0.05 --param checkpoint_every=100000 --param export=false)

run() {  # name nproc batch extra...
  local name=$1 np=$2 b=$3; shift 3
  "$CLI" --project "$W/$name" run lm.train --device "$DEVICE" --seed 1 --quiet --nproc "$np" "${data[@]}" \
    --param batch_size="$b" "$@" > "$W/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$W/$name.log")" >&2
  find "$W/$name" -name run.json | head -1
}

# 1. correctness
small=(--param dim=128 --param n_layers=4 --param n_heads=4 --param context=128 --param steps=30 --param lr=1e-3
       --param warmup_steps=5 --param val_every=10 --param val_batches=4 --param autocast=off)
one=$(run check1 1 16 "${small[@]}"); two=$(run check2 2 16 "${small[@]}")
python3 - "$one" "$two" <<'PY'
import json, os, sys
def curve(run):
    d = os.path.dirname(run)
    return [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"loss"' in l]
a, b = curve(sys.argv[1]), curve(sys.argv[2])
dl = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
va = [(x["val_loss"], y["val_loss"]) for x, y in zip(a, b) if "val_loss" in x and "val_loss" in y]
dv = max(abs(x - y) for x, y in va)
print(f"| NCCL check: 30 steps float32, 2 processes vs 1 | max |loss diff| {dl:.2e} | max |val loss diff| {dv:.2e} | "
      f"backend {json.load(open(sys.argv[2]))['summary'].get('backend')} | final loss {a[-1]['loss']:.4f} / {b[-1]['loss']:.4f} |")
PY

# 2. throughput
big=(--param dim=$DIM --param n_layers=$LAYERS --param n_heads=$HEADS --param hidden_dim=$HIDDEN --param context=$CONTEXT
     --param steps="$STEPS" --param lr=3e-4 --param warmup_steps=20 --param val_every="$STEPS" --param val_batches=2)
r1=$(run gpu1 1 "$PER_GPU" "${big[@]}")
rn=$(run gpu${N}_weak "$N" $(( PER_GPU * N )) "${big[@]}")
rs=$(run gpu${N}_strong "$N" "$PER_GPU" "${big[@]}")

# 3. reference
[ "$DEVICE" = cuda ] && ref1=$(torchrun --standalone --nproc_per_node 1 "$SRC/tests/bench/lm/ddp_reference.py" --batch-per-gpu "$PER_GPU" --dim $DIM --layers $LAYERS --heads $HEADS --hidden $HIDDEN --context $CONTEXT 2> "$W/ref1.err" | tail -1)
[ "$DEVICE" = cuda ] && refn=$(torchrun --standalone --nproc_per_node "$N" "$SRC/tests/bench/lm/ddp_reference.py" --batch-per-gpu "$PER_GPU" --dim $DIM --layers $LAYERS --heads $HEADS --hidden $HIDDEN --context $CONTEXT 2> "$W/refn.err" | tail -1)

python3 - "$N" "$r1" "$rn" "$rs" "${ref1:-}" "${refn:-}" <<'PY'
import json, os, sys
n = int(sys.argv[1])
per, ctx = int(os.environ["PER_GPU"]), int(os.environ["CONTEXT"])
def steady(run, batch):  # tokens/s between step STEPS/5 and the step before the last (which validates)
    if not run or not os.path.exists(run):
        return None, None
    s = json.load(open(run))["summary"]
    m = [json.loads(l) for l in open(os.path.join(os.path.dirname(run), "metrics.jsonl")) if '"loss"' in l]
    lo, hi = m[len(m) // 5], m[-2]
    return (hi["step"] - lo["step"]) * batch * ctx / (hi["seconds"] - lo["seconds"]), s
t1, s1 = steady(sys.argv[2], per); tn, sn = steady(sys.argv[3], per * n); ts, ss = steady(sys.argv[4], per)
def ref(line):
    try: return json.loads(line)["tokens_per_s"]
    except Exception: return None
f1, fn = ref(sys.argv[5]), ref(sys.argv[6])
fmt = lambda v: "failed" if v is None else f"{v:,.0f}"
eff = lambda a, b: "-" if a is None or b is None else f"{100 * a / (n * b):.1f}%"
params = s1.get("params") if s1 else None
print(f"\n| lm.train Llama {params} params, context {os.environ.get('CONTEXT')}, bf16 | tokens/s | efficiency | PyTorch DDP tokens/s | efficiency |")
print("|---|---|---|---|---|")
print(f"| 1 GPU, batch {os.environ.get('PER_GPU', 16)} | {fmt(t1)} | - | {fmt(f1)} | - |")
print(f"| {n} GPUs, batch {n} x {os.environ.get('PER_GPU', 16)} (weak) | {fmt(tn)} | {eff(tn, t1)} | {fmt(fn)} | {eff(fn, f1)} |")
print(f"| {n} GPUs, batch {os.environ.get('PER_GPU', 16)} split (strong) | {fmt(ts)} | {eff(ts, t1)} | - | - |")
if sn: print(f"backend: {sn.get('backend')}; final loss 1 GPU {s1.get('final_loss'):.4f}, {n} GPUs {sn.get('final_loss'):.4f}")
PY
