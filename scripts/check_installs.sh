#!/usr/bin/env bash
# Every install the README implies, each into a fresh venv from the wheel a user gets, with one real command each:
#   base          verif-nb --help, verify (rule mode), ifeval score, export verl
#   [ifbench]     ifbench score on prompts whose checkers need the extra (emoji, syllables, part of speech)
#   [train]       train (the tiny model, 2 GRPO steps) and eval bench ifeval on the trained model
#   [judge]       judge serve (the PyPI GGUF model on llama.cpp), one hybrid verify against it, judge stop
#   [notebooks]   run (notebooks 01, 02 in rule mode and 04) and lab (started, answers /api/status, stopped)
# Commands run from a folder outside the checkout, so they use the installed package, not the source tree.
# pip's cache (and the local wheel folders pip is configured with) makes the installs cheap; the exact versions
# come from constraints.txt, and torch is pinned in the same command as [train] so pip takes the CPU wheel.
#   scripts/check_installs.sh                 # all variants (what .ci/run calls)
#   scripts/check_installs.sh base train      # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PYTHON="${PYTHON:-python3.11}"
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(base ifbench train judge notebooks)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/verif-nb-installs.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)

# the wheel is built from a copy of the checkout's files (tracked and new, not ignored), so no build/ is left here
mkdir -p "$WORK/src"
git ls-files -z -co --exclude-standard | tar -c --null -T - | tar -x -C "$WORK/src"
"$PYTHON" -m pip wheel -q --no-deps "$WORK/src" -w "$WORK/dist" >/dev/null
WHEEL="$(ls "$WORK"/dist/verif_nb-*.whl)"
echo "installs: wheel $(basename "$WHEEL") built in $(( $(date +%s) - t0 )) s"

fresh_venv() {  # fresh_venv NAME EXTRAS [more pip arguments]: a new venv with the wheel and its extras
    local name=$1 extras=$2
    shift 2
    "$PYTHON" -m venv "$WORK/$name"
    "$WORK/$name/bin/python" -m pip install -q --disable-pip-version-check -c "$REPO/constraints.txt" \
        "${WHEEL}${extras}" "$@"
    mkdir -p "$WORK/$name-cwd"
}

free_port() {
    "$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

variant_base() {
    fresh_venv base ""
    local bin="$WORK/base/bin" cwd="$WORK/base-cwd"
    cd "$cwd"
    "$bin/verif-nb" --help >/dev/null
    "$bin/python" - <<'EOF'
import json
from verif_nb.data import load_sample
from verif_nb.data._load import SAMPLE_DIR
records = load_sample().records[:4]
with open("resp.jsonl", "w") as fh:
    for r in records:
        fh.write(json.dumps({"id": r.id, "response": r.responses[0].text}) + "\n")
print(SAMPLE_DIR / "verinstruct_sample_a.jsonl", file=open("sample_path", "w"))
EOF
    local sample
    sample="$(cat sample_path)"
    "$bin/verif-nb" verify --data "$sample" --responses resp.jsonl --mode rule --out verified.jsonl
    head -5 "$REPO/verif_nb/data/ifeval/input_data.jsonl" >ifeval_in.jsonl
    "$bin/python" -c "
import json
rows = [json.loads(line) for line in open('ifeval_in.jsonl')]
open('ifeval_resp.jsonl', 'w').writelines(json.dumps({'prompt': r['prompt'], 'response': 'A short answer.'}) + '\n'
                                          for r in rows)"
    "$bin/verif-nb" ifeval score --inputs ifeval_in.jsonl --responses ifeval_resp.jsonl --out ifeval
    "$bin/verif-nb" export verl --data "$sample" --out train.parquet
    "$bin/python" -c "import pyarrow.parquet as pq; n = pq.read_table('train.parquet').num_rows; assert n > 0; print('verl rows', n)"
}

variant_ifbench() {
    fresh_venv ifbench "[ifbench]"
    local bin="$WORK/ifbench/bin"
    cd "$WORK/ifbench-cwd"
    "$bin/python" - <<'EOF'
import json
prompts = [("format:emoji", "Describe tea. Please use an emoji at the end of every sentence.", "I love tea \N{HOT BEVERAGE}."),
           ("words:odd_even_syllables", "Write one line.", "The cat sat down."),
           ("words:start_verb", "Write one line.", "Run to the shop.")]
with open("in.jsonl", "w") as fi, open("resp.jsonl", "w") as fr:
    for i, (iid, prompt, response) in enumerate(prompts):
        fi.write(json.dumps({"key": i, "prompt": prompt, "instruction_id_list": [iid], "kwargs": [{}]}) + "\n")
        fr.write(json.dumps({"prompt": prompt, "response": response}) + "\n")
EOF
    "$bin/verif-nb" ifbench score --inputs in.jsonl --responses resp.jsonl --out scored
}

variant_train() {
    fresh_venv train "[train]" torch==2.13.0
    local bin="$WORK/train/bin"
    cd "$WORK/train-cwd"
    cp "$REPO/params/train_ci.yaml" .
    "$bin/verif-nb" train train_ci.yaml --out run
    "$bin/verif-nb" eval bench ifeval --model before=tiny --model after=run/final --limit 2 --max-new-tokens 16 \
        --resamples 200 --no-progress --out eval
    test -s eval/eval_table.csv
}

variant_judge() {
    fresh_venv judge "[judge]"
    local bin="$WORK/judge/bin" port
    cd "$WORK/judge-cwd"
    port="$(free_port)"
    "$bin/verif-nb" judge serve --port "$port" --threads 2 --ctx 2048 --no-logprobs
    # shellcheck disable=SC2064  # the port is fixed now; this runs in the variant's own subshell
    trap "'$bin/verif-nb' judge stop --port $port >/dev/null 2>&1 || true" EXIT
    "$bin/verif-nb" judge status --port "$port" >/dev/null
    "$bin/python" -c "
import json
from verif_nb.data import load_sample
r = next(r for r in load_sample().records if r.llm_constraints)
open('resp.jsonl', 'w').write(json.dumps({'id': r.id, 'response': r.responses[0].text}) + '\n')
from verif_nb.data._load import SAMPLE_DIR
print(SAMPLE_DIR, file=open('sample_dir', 'w'))"
    "$bin/verif-nb" verify --data "$(cat sample_dir)" --responses resp.jsonl --mode hybrid \
        --judge-base-url "http://127.0.0.1:$port/v1" --judge-model qwen2.5-coder-0.5b-instruct --judge-concurrency 1 \
        --out verified.jsonl
    "$bin/verif-nb" judge stop --port "$port"
}

variant_notebooks() {
    fresh_venv notebooks "[notebooks]"
    local bin="$WORK/notebooks/bin" port pid
    cd "$WORK/notebooks-cwd"
    cat >nb.yaml <<EOF
run_name: notebooks-only
notebooks_dir: $REPO/notebooks
notebooks: [01_dataset_inspection, 02_verifier_ablation, 04_results_report]
parameters: {data: sample}
overrides:
  01_dataset_inspection: {max_records: 6}
  02_verifier_ablation: {modes: [rule], judge: none, max_records: 4, calibration_cases: 0, probe_records: 1}
EOF
    "$bin/verif-nb" run nb.yaml --out run --no-progress --single-file
    "$bin/python" -c "
import json, nbformat
m = json.load(open('run/manifest.json'))
assert m['status'] == 'ok', m['status']
for e in m['notebooks']:
    nbformat.validate(nbformat.read(f'run/notebooks/{e[\"name\"]}.ipynb', as_version=4))
print('notebooks-only run ok:', [e['name'] for e in m['notebooks']])"
    port="$(free_port)"
    "$bin/verif-nb" lab --port "$port" --token check --notebook-dir "$REPO/notebooks" >lab.log 2>&1 &
    pid=$!
    "$bin/python" - "$port" <<'EOF' || { cat lab.log; kill "$pid"; exit 1; }
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/status?token=check"
for _ in range(240):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            if resp.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit("the lab did not answer /api/status")
EOF
    kill "$pid"
    wait "$pid" || true
    echo "lab answered on port $port"
}

run_variant() {  # in a subshell of its own: its log, its exit status and its time in files under $WORK
    local variant=$1 start
    start=$(date +%s)
    (set -euo pipefail; "variant_$variant") >"$WORK/$variant.log" 2>&1
    echo "$? $(( $(date +%s) - start ))" >"$WORK/$variant.status"
    rm -rf "${WORK:?}/$variant" "${WORK:?}/$variant-cwd"  # now, while other variants run: a torch venv is large
}

# JOBS variants at a time (default 2): installing is partly waiting on the disk, so two overlap well on 2 cores
JOBS="${JOBS:-2}"
for variant in "${VARIANTS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_variant "$variant" &
done
wait
failed=()
for variant in "${VARIANTS[@]}"; do
    read -r rc seconds <"$WORK/$variant.status"
    if [ "$rc" -eq 0 ]; then
        echo "installs: $variant ok in $seconds s"
    else
        echo "installs: $variant FAILED (exit $rc) after $seconds s; the end of its log:"
        tail -40 "$WORK/$variant.log"
        failed+=("$variant")
    fi
done
echo "installs: ${#VARIANTS[@]} variant(s) in $(( $(date +%s) - t0 )) s with $JOBS at a time; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
