"""Property-based tests (hypothesis) of everything that reads outside input: the record loaders, the
responses reader, the judge-reply parser and the params loaders. Whatever is generated, each returns a
result or raises its documented error (DataError, ParamsError, or a ValueError that the judge client
counts as ``bad_response``), never another exception.

Every test runs a few hundred generated inputs (a few thousand in all); with no deadline, the file
stays within about 30 s.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verif_nb.data import load_records, read_responses
from verif_nb.errors import DataError, ParamsError
from verif_nb.files import load_yaml_text
from verif_nb.judge import JudgeClient, JudgeConfig
from verif_nb.judge.client import p_yes_from_logprobs
from verif_nb.judge.templates import PARSERS, get_template, parse_verdict
from verif_nb.pipeline._params import load_pipeline_params
from verif_nb.train.params import load_params as load_train_params

# database=None: no .hypothesis/ folder in the checkout. Locally each run draws fresh inputs (to keep finding
# bugs); under CI (CI=true) the draw is derandomized, so a landing is judged on the same inputs every time.
EXAMPLES = settings(
    max_examples=400,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SAMPLE = Path(__file__).resolve().parents[1] / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
GOOD_ROW = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
IFEVAL_ROW = {"key": 1, "prompt": "Write.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["[rule] Length", "[llm] Style", "def check_following(i, r):\n    return True", "\udc80"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with some fields replaced by any JSON value, deleted, or added: near-valid rows."""
    keys = st.sampled_from(sorted(base))
    changes = st.lists(st.tuples(keys | st.text(max_size=6), st.none() | json_values), max_size=4)

    def apply(items: list[tuple[str, Any]]) -> dict[str, Any]:
        row = dict(base)
        for key, value in items:
            if value is None and key in row:
                del row[key]
            else:
                row[key] = value
        return row

    return changes.map(apply)


def line_of(value: Any) -> bytes:
    return json.dumps(value).encode()


lines = st.lists(
    st.one_of(
        mutated(GOOD_ROW).map(line_of),
        mutated(IFEVAL_ROW).map(line_of),
        json_values.map(line_of),
        st.binary(max_size=40),
        st.sampled_from([b"[" * 5000, b'{"id": ' + b"9" * 5000 + b"}", b"\xef\xbb\xbf{}", b"", b"\xff\xfe"]),
    ),
    min_size=1,
    max_size=5,
)


def write_lines(items: list[bytes], suffix: str = ".jsonl") -> Path:
    folder = Path(tempfile.mkdtemp(prefix="verif-prop-"))
    path = folder / f"data{suffix}"
    path.write_bytes(b"\n".join(item.replace(b"\n", b" ") for item in items) + b"\n")
    return path


@EXAMPLES
@given(items=lines, fmt=st.sampled_from(["auto", "verinstruct", "ifeval", "ifbench", "rlvr", "verl"]))
def test_record_loaders_return_records_or_a_data_error(items, fmt):
    path = write_lines(items)
    for lenient in (False, True):
        try:
            result = load_records(path, format=fmt, lenient=lenient, untagged="rule", unknown_checkers="drop")
        except DataError as err:
            assert err.path and err.message
            continue
        assert all(r.id and isinstance(r.prompt, str) for r in result.records)
        assert all(isinstance(e, DataError) for e in result.skipped)


@EXAMPLES
@given(items=lines, as_json_array=st.booleans())
def test_a_json_array_file_loads_or_raises_a_data_error(items, as_json_array):
    if as_json_array:
        path = write_lines([b"[" + b",".join(items) + b"]"], suffix=".json")
    else:
        path = write_lines(items[:1], suffix=".json")
    try:
        load_records(path, lenient=True, untagged="rule", unknown_checkers="drop")
    except DataError as err:
        assert err.message


response_rows = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), st.integers(), json_values),
        "response": st.one_of(st.text(max_size=40), json_values),
        "prompt": st.text(max_size=5),
    },
)


@EXAMPLES
@given(items=st.lists(st.one_of(response_rows.map(line_of), st.binary(max_size=20)), min_size=1, max_size=5))
def test_the_responses_reader_returns_pairs_or_a_data_error(items):
    try:
        pairs = read_responses(write_lines(items))
    except DataError as err:
        assert err.line is None or err.line >= 1
        return
    assert all(isinstance(rid, str) and isinstance(text, str) for rid, text in pairs)


# ---- judge replies ---------------------------------------------------------------------------------

content_values = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}),
            st.fixed_dictionaries({"type": st.sampled_from(["refusal", "image_url"])}),
            json_values,
        ),
        max_size=3,
    ),
    json_values,
)
logprob_entry = st.fixed_dictionaries(
    {"token": st.one_of(st.sampled_from(["[[", "1", "0", "]]", "Yes", "No"]), json_values)},
    optional={
        "logprob": st.one_of(st.floats(max_value=0.0), st.floats(), st.integers(-(10**6), 10**6), json_values),
        "top_logprobs": st.one_of(
            st.lists(st.fixed_dictionaries({"token": st.sampled_from(["1", "0"]), "logprob": st.floats()})),
            json_values,
        ),
    },
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "choices": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"message": st.one_of(st.fixed_dictionaries({"content": content_values}), json_values)},
                        optional={
                            "logprobs": st.one_of(
                                st.none(),
                                st.fixed_dictionaries({"content": st.one_of(st.lists(logprob_entry), json_values)}),
                                json_values,
                            )
                        },
                    ),
                    max_size=2,
                ),
                json_values,
            )
        },
        optional={
            "usage": st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "prompt_tokens": st.one_of(st.integers(), st.floats(), json_values),
                        "completion_tokens": st.one_of(st.integers(), json_values),
                    },
                ),
                json_values,
            )
        },
    ),
)
CLIENT = JudgeClient(JudgeConfig(model="m", logprobs=True))


@EXAMPLES
@given(payload=payloads, template=st.sampled_from(["verif_score_en", "verif_judge_en"]))
def test_the_judge_reply_parser_gives_an_answer_or_a_counted_bad_response(payload, template):
    tpl = get_template(template)
    try:
        answer, repaired = CLIENT._answer_from_payload(payload, tpl)
    except ValueError:
        return  # the client counts it as bad_response for this call
    assert isinstance(answer.raw, str) and repaired >= 0
    answer.raw.encode("utf-8")  # encodable, whatever the server sent
    assert answer.p_yes is None or 0.0 <= answer.p_yes <= 1.0
    assert answer.prompt_tokens >= 0 and answer.completion_tokens >= 0
    outcome = CLIENT._outcome_from_answer(answer, tpl, cached=False, attempts=1, latency=0.0)
    assert outcome.passed in (True, False, None) and (outcome.passed is not None or outcome.error)


@EXAMPLES
@given(raw=st.one_of(st.none(), st.text(max_size=60), st.text(alphabet="[]01 <>/thinkYesNo", max_size=40)))
def test_every_parser_reads_any_text_without_raising(raw):
    for parser in PARSERS:
        verdict = parse_verdict(raw, parser)
        assert verdict.passed in (True, False, None)
        if verdict.passed is None and parser not in ("text", "verif_first"):
            assert verdict.error


typed_entry = st.fixed_dictionaries(
    {
        "token": st.sampled_from(["[[", "1", "0", "]]", "Yes", "No", ""]),
        "logprob": st.one_of(st.none(), st.floats(), st.integers(-(10**400), 10**400)),
        "top_logprobs": st.lists(
            st.fixed_dictionaries({"token": st.sampled_from(["1", "0", "x"]), "logprob": st.floats()}), max_size=3
        ),
    }
)


@EXAMPLES
@given(lp=st.lists(typed_entry, max_size=4), raw=st.text(alphabet="[]01 ", max_size=12))
def test_p_yes_from_logprobs_never_overflows(lp, raw):
    p = p_yes_from_logprobs(lp, raw, raw.find("1") if "1" in raw else None, "bracket")
    assert p is None or (0.0 <= p <= 1.0 and not math.isnan(p))


# ---- params ----------------------------------------------------------------------------------------

yaml_texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="ab: -[]{}&*!'\"\n#|>", max_size=120),
    json_values.map(json.dumps),
)


@EXAMPLES
@given(text=yaml_texts)
def test_the_yaml_reader_returns_data_or_a_params_error(text):
    try:
        load_yaml_text(text, "gen.yaml")
    except ParamsError as err:
        assert str(err).startswith("gen.yaml: ") and "\n" not in str(err)


pipeline_docs = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "notebooks": st.one_of(st.lists(st.text(max_size=12), max_size=3), json_values),
            "parameters": json_values,
            "overrides": json_values,
            "run_name": json_values,
            "notebooks_dir": st.one_of(st.text(max_size=10), json_values),
            "description": json_values,
        },
    ),
    json_values,
)


@EXAMPLES
@given(doc=pipeline_docs)
def test_the_pipeline_params_loader_returns_params_or_a_params_error(doc):
    path = Path(tempfile.mkdtemp(prefix="verif-prop-")) / "p.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    try:
        params = load_pipeline_params(path)
    except ParamsError:
        return
    assert params.notebooks


train_docs = st.dictionaries(
    st.sampled_from(["model", "lora", "data", "verifier", "grpo", "run_name", "seed", "output_dir", "junk"]),
    json_values,
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(doc=train_docs)
def test_the_train_params_loader_returns_params_or_a_params_error(doc):
    try:
        load_train_params(doc)
    except ParamsError:
        pass
