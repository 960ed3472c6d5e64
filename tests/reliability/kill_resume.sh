#!/usr/bin/env bash
# Crash safety of training (issue 11 item 3): SIGKILL an lm.train job at random moments, check after
# every kill that the project store passes PRAGMA integrity_check and every checkpoint loads, resume
# with `atomscope-cli resume`, and at the end compare the run with an uninterrupted one of the same
# seed: the loss of every step, the final losses and the exported weights must be bitwise equal (CPU).
# While the job runs, `atomscope-cli runs` indexes the project over and over, so the store is being
# written when the kill comes (each kill takes that process down too).
#
#   tests/reliability/kill_resume.sh [--kills N] [--steps S] [--build DIR] [--work DIR] [--seed N]
#                                    [--cli PATH] [--probe PATH]
# defaults: 20 kills, 60 steps, build/dev's binaries, a fresh temp folder, random seed for the kill times.
# Exit 0 when every kill was survived.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KILLS=20
STEPS=60
BUILD="$ROOT/build/dev"
WORK=""
SEED=$RANDOM
CLI=""
PROBE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) KILLS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --cli) CLI=$2; shift 2 ;;
    --probe) PROBE=$2; shift 2 ;;
    *) echo "usage: $0 [--kills N] [--steps S] [--build DIR] [--work DIR] [--seed N] [--cli PATH] [--probe PATH]" >&2; exit 2 ;;
  esac
done
[ -n "$CLI" ] || CLI="$BUILD/app/cli/atomscope-cli"
[ -n "$PROBE" ] || PROBE="$BUILD/tests/reliability/reliability_probe"
DATA="${ATOMSCOPE_SHARED_DATA_DIR:-$ROOT/../shared/data}"
for f in "$CLI" "$PROBE" "$DATA/lm/tok512.bin"; do
  [ -e "$f" ] || { echo "kill_resume: $f is missing (build atomscope-cli and reliability_probe)" >&2; exit 2; }
done
[ -n "$WORK" ] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/atomscope-kill-resume.XXXXXX")
rm -rf "$WORK/ref" "$WORK/proj"
mkdir -p "$WORK/ref" "$WORK/proj"
RANDOM=$SEED
# One thread: on a busy 2-core machine OpenMP barriers between two threads cost more than the tiny
# model gains (measured: 51 s instead of 11 s for 60 steps under load), and both runs use the same.
export OMP_NUM_THREADS=1

# A small llama on TinyStories with tok512: ~40 ms a step on 2 cores, a checkpoint every 3 steps.
TRAIN=(run lm.train --device cpu --seed 11 --quiet
       --param "data=$DATA/text/tinystories/tinystories_sample5.txt" --param "tokenizer=$DATA/lm/tok512.bin"
       --param family=llama --param dim=48 --param n_layers=2 --param n_heads=2 --param context=48
       --param batch_size=8 --param grad_accum=2 --param "steps=$STEPS" --param lr=3e-3 --param warmup_steps=5
       --param checkpoint_every=3 --param val_every=10 --param val_batches=2)

echo "kill_resume: $KILLS kills, $STEPS steps, kill-time seed $SEED, work folder $WORK"
t0=$(date +%s.%N)
"$CLI" --project "$WORK/ref" "${TRAIN[@]}" > "$WORK/ref.log" 2>&1 || { cat "$WORK/ref.log"; exit 1; }
t1=$(date +%s.%N)
REF=$(ls -d "$WORK"/ref/*lm.train*)
# Kill moments: uniform over the uninterrupted run's length (start-up included).
SPAN_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
echo "kill_resume: uninterrupted run $SPAN_MS ms"

# The store writer: `runs` over the project, in a loop, until the script ends.
( while :; do "$CLI" --project "$WORK/proj" runs > /dev/null 2>&1 || true; sleep 0.1; done ) &
INDEXER=$!
trap 'kill $INDEXER 2>/dev/null || true' EXIT

killed=0
starts=0
fail=0
while :; do
  RUN=$(ls -d "$WORK"/proj/*lm.train* 2>/dev/null | head -n1 || true)
  if [ -n "$RUN" ] && grep -q '"seed": null' "$RUN/run.json"; then  # killed before its params were recorded
    mkdir -p "$WORK/unstarted" && mv "$RUN" "$WORK/unstarted/"
    RUN=""
  fi
  # A kill that lands after the run recorded its completion leaves nothing to resume.
  if [ -n "$RUN" ] && grep -q '"status": *"completed"' "$RUN/run.json"; then
    [ "$killed" -ge "$KILLS" ] && break
    "$PROBE" compare "$REF" "$RUN" || { echo "kill_resume: a completed run differs from the uninterrupted one"; exit 1; }
    mkdir -p "$WORK/done" && mv "$RUN" "$WORK/done/"
    RUN=""
  fi
  if [ -z "$RUN" ]; then
    "$CLI" --project "$WORK/proj" "${TRAIN[@]}" > "$WORK/job.log" 2>&1 &
  else
    "$CLI" --project "$WORK/proj" resume "$(basename "$RUN")" --quiet > "$WORK/job.log" 2>&1 &
  fi
  JOB=$!
  starts=$((starts + 1))
  if [ "$killed" -ge "$KILLS" ]; then  # enough kills: let it finish
    wait $JOB || { echo "kill_resume: the final resume failed:"; cat "$WORK/job.log"; exit 1; }
    break
  fi
  delay=$((RANDOM % SPAN_MS))
  sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
  if ! kill -0 $JOB 2>/dev/null; then  # it finished (or failed) before the kill came
    if ! wait $JOB; then echo "kill_resume: the job failed:"; cat "$WORK/job.log"; exit 1; fi
    # Completed before enough kills: compare it, then start a fresh run for the remaining kills.
    RUN=$(ls -d "$WORK"/proj/*lm.train*)
    "$PROBE" compare "$REF" "$RUN" || fail=1
    [ "$fail" -eq 0 ] || { echo "kill_resume: a completed run differs from the uninterrupted one"; exit 1; }
    mkdir -p "$WORK/done" && mv "$RUN" "$WORK/done/"
    continue
  fi
  kill -KILL $JOB
  pkill -KILL -P $INDEXER -x atomscope-cli 2>/dev/null || true  # the indexer's current `runs`, mid-write or not
  wait $JOB 2>/dev/null || true
  killed=$((killed + 1))
  RUN=$(ls -d "$WORK"/proj/*lm.train* 2>/dev/null | head -n1 || true)
  step=$(ls "$RUN/checkpoints" 2>/dev/null | sed -n 's/^step-0*\([0-9][0-9]*\)\.pt$/\1/p' | sort -n | tail -n1 || true)
  echo "kill $killed after ${delay} ms: newest checkpoint step ${step:-none}"
  if [ -f "$WORK/proj/atomscope.db" ]; then "$PROBE" store "$WORK/proj/atomscope.db" > /dev/null || fail=1; fi
  if [ -n "$RUN" ]; then "$PROBE" checkpoints "$RUN/checkpoints" > /dev/null || fail=1; fi
  [ "$fail" -eq 0 ] || { echo "kill_resume: corrupt state after kill $killed"; exit 1; }
done

RUN=$(ls -d "$WORK"/proj/*lm.train*)
"$PROBE" store "$WORK/proj/atomscope.db"
"$PROBE" checkpoints "$RUN/checkpoints"
"$PROBE" compare "$REF" "$RUN" || fail=1
resumes=$(sed -n 's/.*"resume_count": *\([0-9]*\).*/\1/p' "$RUN/run.json")
echo "kill_resume: $killed kills survived, $starts starts, final run resumed $resumes times; fail=$fail"
exit $fail
