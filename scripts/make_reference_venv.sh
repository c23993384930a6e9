#!/usr/bin/env bash
# Creates .venv-verif-ref/: what VerIF's original reward code needs, and nothing of verif-nb, for the differential
# test (tests/test_reference_differential.py runs tests/reference_oracle.py with this venv's python).
# The original (../shared/reference/verif_reward/) imports the openai SDK (build_model.APIModel) and requests; its
# rule functions may import numpy. Versions are pinned to what was current when the original was published
# (June 2025), so the oracle's transport (retries, reply parsing) is the one the paper trained with.
#   scripts/make_reference_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VERIF_REF_VENV:-.venv-verif-ref}"
STAMP="$VENV/.setup-done"
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$0" ]; then
    echo "reference venv: $VENV is up to date"
    exit 0
fi
start=$(date +%s)
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q openai==1.86.0 httpx==0.28.1 pydantic==2.11.5 requests==2.32.4 numpy==2.3.0
"$VENV/bin/python" -c "import openai, httpx, requests, numpy; print('openai', openai.__version__, 'httpx', httpx.__version__, 'numpy', numpy.__version__)"
touch "$STAMP"
echo "reference venv: ready in $(( $(date +%s) - start )) s"
