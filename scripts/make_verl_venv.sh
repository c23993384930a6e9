#!/usr/bin/env bash
# Creates .venv-verl/: upstream verl (its reward managers and DataProto) next to verif-nb, CPU only.
# verl 0.9.1 pins transformers<5.11 while verif-nb's training stack pins 5.23, so verl cannot share .venv/;
# the main environment is never touched. tests/test_verl_reward_loop.py drives this venv by subprocess.
#   scripts/make_verl_venv.sh            # or: make verl-venv
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VERL_VENV:-.venv-verl}"
STAMP="$VENV/.setup-done"
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt "$0" ]; then
    echo "verl venv: $VENV is up to date"
    exit 0
fi
start=$(date +%s)
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch pinned in the same command so pip takes the CPU wheel; verl's own extras ([cpu], [fsdp]) would pull
# torch 2.11, vLLM or CUDA kernels, none of which the reward managers need.
"$VENV/bin/python" -m pip install -q -e . verl==0.9.1 torch==2.13.0 "transformers>=5.5.3,<5.11"
"$VENV/bin/python" -c "import verl, torch, transformers, verif_nb; print('verl', verl.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
touch "$STAMP"
echo "verl venv: ready in $(( $(date +%s) - start )) s"
