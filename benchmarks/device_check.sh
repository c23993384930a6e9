#!/usr/bin/env bash
# The device checks: one prepared script for the GPU machine (the device tool's `run`, from the repository root).
# That machine has Python 3.12, torch and transformers, no package index, and lacks trl, datasets and verif-nb's own
# base packages: they travel as wheels in .whl/ (benchmarks/device_wheels.sh fetches them here), and only those whose
# distribution is missing there are installed, into a folder of their own first on PYTHONPATH.
#
# Sections (all by default; name some to run only those):
#   env      the machine: GPU, driver, Python, torch / transformers / trl / verif-nb versions
#   train    `verif-nb train params/train_gpu_smoke.yaml` through the installed console script: the tiny model in bf16,
#            6 GRPO steps on CUDA; checks the run finished on the GPU (run_result.json, every step logged, a finite
#            reward), that the saved model loads and generates on the GPU; wall time and peak GPU memory
#   sandbox  benchmarks/device_check_sandbox.py: the sandbox's scaling table at 1/2/4/8 workers (its own budget, 240 s)
# Budget: at most 6 minutes on the GPU machine (train ~1-2 min with the install, sandbox <= 4 min). The summary is
# printed as markdown and written to $OUT/device_check.md, with each section's log beside it.
#
#   device run:  benchmarks/device_wheels.sh (here, once), then
#                run(command="benchmarks/device_check.sh", carry=[".whl"], timeout_s=480)
#   without GPU: DEVICE_CHECK_CPU=1 PYTHON=.venv/bin/python DEVICE_CHECK_SANDBOX_ARGS="--workers 1 2 --budget-s 30" \
#                    benchmarks/device_check.sh     (the same commands on the CPU, GPU checks left out)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$(mktemp -d)}"
CPU="${DEVICE_CHECK_CPU:-}"
SITE="${DEVICE_CHECK_SITE:-/tmp/verif-nb-site}"
SECTIONS=("$@")
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(env train sandbox)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
summary=("| section | result | seconds | notes |" "|---|---|---:|---|")

install_wheels() {  # the carried wheels whose distribution this Python lacks (verif-nb's own always), into $SITE
    [ -d .whl ] || { echo "no .whl/: run benchmarks/device_wheels.sh here and carry .whl" >&2; return 1; }
    local wanted
    wanted="$("$PYTHON" - <<'EOF'
import pathlib
from importlib import metadata

for wheel in sorted(pathlib.Path(".whl").glob("*.whl")):
    name = wheel.name.split("-")[0]
    try:
        metadata.version(name)
        present = name != "verif_nb"
    except metadata.PackageNotFoundError:
        present = False
    if not present:
        print(wheel)
EOF
)"
    echo "installing: $(echo "$wanted" | xargs -n1 basename | tr '\n' ' ')"
    rm -rf "$SITE"
    # shellcheck disable=SC2086  # one wheel path per word
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" $wanted || return 1
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    export PATH="$SITE/bin:$PATH"
}

section_env() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    "$PYTHON" - <<'EOF'
import platform
from importlib import metadata

import torch

print("python", platform.python_version(), platform.machine())
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
for name in ("transformers", "trl", "peft", "accelerate", "datasets", "verif-nb"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "missing")
EOF
}

section_train() {
    # the run outside $OUT: the device tool brings back at most 8 files (this script leaves 7 there)
    local run="${TMPDIR:-/tmp}/verif-nb-train-smoke" extra=() sampler
    rm -rf "$run"
    [ -n "$CPU" ] && extra=(--set grpo.use_cpu=true)
    command -v verif-nb >/dev/null || { echo "verif-nb is not on PATH" >&2; return 1; }
    if [ -z "$CPU" ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$OUT/gpu_memory_mib.txt" &
        sampler=$!
    fi
    local t0=$SECONDS
    timeout 300 verif-nb train params/train_gpu_smoke.yaml --out "$run" "${extra[@]}"
    local rc=$?
    [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
    echo "verif-nb train: exit $rc in $((SECONDS - t0)) s"
    [ $rc -eq 0 ] || return $rc
    cp "$run/run_result.json" "$OUT/train_run_result.json"
    CPU="$CPU" RUN="$run" MEMORY="$OUT/gpu_memory_mib.txt" "$PYTHON" - <<'EOF'
import json
import math
import os
from pathlib import Path

run = Path(os.environ["RUN"])
result = json.loads((run / "run_result.json").read_text())
rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
rewards = [r["reward"] for r in rows if r.get("reward") is not None]
assert result["global_step"] == 6, result
assert len(rewards) == 6 and all(math.isfinite(r) for r in rewards), rewards
on_gpu = result["device"].startswith("cuda")
assert on_gpu or os.environ["CPU"], f"trained on {result['device']}, not on the GPU"

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

device = "cuda" if on_gpu else "cpu"
model = AutoModelForCausalLM.from_pretrained(run / "final", dtype=torch.bfloat16).to(device)
tokenizer = AutoTokenizer.from_pretrained(run / "final")
ids = tokenizer("Write a haiku.", return_tensors="pt").to(device)
out = model.generate(**ids, max_new_tokens=4, do_sample=False)
assert out.shape[1] > ids["input_ids"].shape[1]
peak = None
memory = Path(os.environ["MEMORY"])
if memory.is_file():
    used = [int(x) for x in memory.read_text().split() if x.strip().isdigit()]
    peak = max(used) if used else None
print(
    f"TRAIN_NOTE {result['global_step']} steps on {result['device']} in {result['train_seconds']:.1f} s "
    f"(reward {result['reward_seconds']:.1f} s); reward per step {[round(r, 3) for r in rewards]}; "
    f"peak GPU memory {peak} MiB (nvidia-smi, whole GPU); final/ loads and generates on {device}"
)
EOF
}

section_sandbox() {  # the sandbox's own prepared run (benchmarks/device_check_sandbox.py): its table goes to the summary
    if [ ! -f benchmarks/device_check_sandbox.py ]; then
        echo "SKIP: benchmarks/device_check_sandbox.py is not on this branch"
        return 0
    fi
    # it reads ../shared/data and ../shared/reference, which do not travel to the GPU machine: the copy in .whl/
    if [ ! -d ../shared/data ] && [ -d .whl/shared ]; then
        ln -sfn "$PWD/.whl/shared" ../shared || return 1
    fi
    # shellcheck disable=SC2086  # DEVICE_CHECK_SANDBOX_ARGS: its options, e.g. "--workers 1 2 --budget-s 30" here
    PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" timeout 270 "$PYTHON" benchmarks/device_check_sandbox.py \
        ${DEVICE_CHECK_SANDBOX_ARGS:-}
}

if printf '%s\n' "${SECTIONS[@]}" | grep -qx -e train -e sandbox; then
    t0=$SECONDS
    if install_wheels >"$OUT/install.log" 2>&1; then
        summary+=("| install | ok | $((SECONDS - t0)) | $(head -1 "$OUT/install.log" | cut -c1-200) |")
    else
        summary+=("| install | FAILED | $((SECONDS - t0)) | see install.log |")
        tail -20 "$OUT/install.log"
    fi
fi
failed=0
for section in "${SECTIONS[@]}"; do
    t0=$SECONDS
    "section_$section" >"$OUT/$section.log" 2>&1
    rc=$?
    note="$(grep -h -m1 -e '^TRAIN_NOTE' -e '^SKIP' "$OUT/$section.log" | sed 's/^TRAIN_NOTE //' | cut -c1-400)"
    [ "$section" = env ] && note="$(grep -h -e '^torch' -e '^NVIDIA\|H200\|H100' "$OUT/$section.log" | head -2 | tr '\n' ';')"
    if [ $rc -eq 0 ]; then
        summary+=("| $section | ok | $((SECONDS - t0)) | $note |")
    else
        failed=1
        summary+=("| $section | FAILED (exit $rc) | $((SECONDS - t0)) | see $section.log |")
        echo "--- $section.log (last 30 lines)"
        tail -30 "$OUT/$section.log"
    fi
done
printf '%s\n' "${summary[@]}" | tee "$OUT/device_check.md"
[ -f "$OUT/sandbox.log" ] && grep '^|' "$OUT/sandbox.log" | tee -a "$OUT/device_check.md" >/dev/null
exit $failed
