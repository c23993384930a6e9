"""Portable run folders, on generated inputs: strings that hold this machine's paths next to quotes, backslashes,
newlines and full stops, in every kind of file a run rewrites.

``portable_text`` is checked against a second, independent implementation of the same rule (a scan from left to
right); ``make_portable`` by writing each generated value in each format, rewriting, and reading it back with the
format's own reader: it must parse, and equal the value with every string made portable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import nbformat
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verif_nb.report.portable import machine_paths, make_portable, portable_text, portable_value

# Fresh draws locally; under CI (CI=true) derandomized, so a landing is judged on the same inputs every time.
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_TMP = Path(tempfile.mkdtemp(prefix="verif-nb-portable-"))
PROJECT = _TMP / "proj"
RUN = PROJECT / "outputs" / "20260101-000000-r1"
MAPPING = machine_paths(RUN, PROJECT)
PREFIXES = sorted(MAPPING)

# Text around the paths: what ends a path, what continues one, and what JSON, CSV and YAML escape.
FILLER = st.text(alphabet=list("ab_-./ \\\"'\n\t,:{}[]#é") + ["\N{SNOWMAN}"], max_size=6)
PIECES = st.one_of(FILLER, st.sampled_from(PREFIXES), st.sampled_from(PREFIXES).map(lambda p: p + "/figures/a.png"))
TEXTS = st.lists(PIECES, max_size=8).map("".join)
KEYS = st.text(alphabet="abcxyz_", min_size=1, max_size=5)
VALUES = st.recursive(
    st.one_of(TEXTS, st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def _continues_a_name(text: str, i: int) -> bool:
    """Whether a file name goes on at ``text[i]`` (a letter, digit, '_' or '-', or a '.' followed by one)."""

    def name_char(c: str) -> bool:
        return c.isalnum() or c in "_-"

    return i < len(text) and (name_char(text[i]) or (text[i] == "." and i + 1 < len(text) and name_char(text[i + 1])))


def reference_portable_text(text: str, mapping: dict[str, str]) -> str:
    """The rule, implemented again as a scan: where a path starts (not after a name character, '.' or '~'), the
    longest prefix that also ends a path there is replaced; inside the run folder, ``prefix/name`` becomes ``name``."""
    out, i = [], 0
    ordered = sorted(mapping, key=len, reverse=True)
    while i < len(text):
        starts = i == 0 or not (text[i - 1] in "._-~" or text[i - 1].isalnum())
        for prefix in ordered if starts else ():
            if not text.startswith(prefix, i):
                continue
            end = i + len(prefix)
            target = mapping[prefix]
            if text.startswith("/", end) and end + 1 < len(text) and text[end + 1] in _NAMEISH:
                out.append("" if target == "." else target + "/")
                i = end + 1
                break
            if not _continues_a_name(text, end):
                out.append(target)
                i = end
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_NAMEISH = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-é\N{SNOWMAN}")


@EXAMPLES
@given(TEXTS)
def test_portable_text_equals_a_left_to_right_scan(text):
    # the scan's notion of a name character: what the regex's \w matches among the drawn characters
    assert portable_text(text, MAPPING) == reference_portable_text(text, MAPPING)


def _notebook(value) -> str:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source=json.dumps(value))
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=json.dumps(value, ensure_ascii=False))]
    nb.cells = [cell]
    nb.metadata["verif_nb_value"] = value
    return nbformat.writes(nb) + "\n"


def _csv_rows(value) -> list[list[str]]:
    strings = [s for s in _strings(value)] or [""]
    return [strings[i : i + 3] for i in range(0, len(strings), 3)]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _write_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@EXAMPLES
@given(VALUES)
def test_every_format_reads_back_with_each_string_made_portable(value):
    import shutil

    shutil.rmtree(RUN, ignore_errors=True)
    (RUN / "metrics").mkdir(parents=True)
    files = {
        "metrics/a.json": json.dumps(value, indent=2),
        "metrics/one_line.json": json.dumps(value),
        "notebooks/n.ipynb": _notebook(value),
        "training/metrics.jsonl": "".join(json.dumps(v) + "\n" for v in [value, value]),
        "metrics/t.csv": _write_csv(_csv_rows(value)),
        "params.yaml": yaml.safe_dump(value, allow_unicode=True),
    }
    for rel, text in files.items():
        (RUN / rel).parent.mkdir(parents=True, exist_ok=True)
        (RUN / rel).write_text(text, encoding="utf-8")
    make_portable(RUN, PROJECT)
    expected = portable_value(value, MAPPING)
    assert json.loads((RUN / "metrics/a.json").read_text(encoding="utf-8")) == expected
    assert json.loads((RUN / "metrics/one_line.json").read_text(encoding="utf-8")) == expected
    nb = nbformat.read(RUN / "notebooks/n.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["verif_nb_value"] == expected
    assert nb.cells[0].source == portable_text(json.dumps(value), MAPPING)
    assert nb.cells[0].outputs[0].text == portable_text(json.dumps(value, ensure_ascii=False), MAPPING)
    lines = (RUN / "training/metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [expected, expected]
    with open(RUN / "metrics/t.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [[portable_text(c, MAPPING) for c in row] for row in _csv_rows(value)]
    assert yaml.safe_load((RUN / "params.yaml").read_text(encoding="utf-8")) == expected
