"""End to end: the real llama.cpp server with the Qwen2.5-Coder-0.5B GGUF from PyPI (slow: loads a model).

Skipped, with the reason, when llama-cpp-python or the model's chunk packages are not installed.
The 0.5B judge is weak (it says yes to nearly everything); this test checks the plumbing — real
answers parsed, log-probs turned into p_yes, tokens counted, the cache — not the judge's quality.
"""

from __future__ import annotations

import pytest

from verif_nb.errors import JudgeError
from verif_nb.gguf import MODELS, find_parts
from verif_nb.judge import JudgeClient, JudgeRequest
from verif_nb.judge.server import LLAMA_INSTALL_HINT, embedded_judge, llama_available

pytestmark = [pytest.mark.llama, pytest.mark.slow]


def _skip_reason() -> str | None:
    if not llama_available():
        return f"llama-cpp-python's server is not installed ({LLAMA_INSTALL_HINT})"
    try:
        find_parts(MODELS["qwen2.5-coder-0.5b"])
    except JudgeError as err:
        return str(err)
    return None


REQUESTS = [
    JudgeRequest.score(
        "Write one sentence about cats.",
        "Cats are graceful animals that love to nap in the sun.",
        ["Write exactly one sentence.", "The topic is cats."],
    ),
    JudgeRequest.score(
        "Write one sentence about cats.",
        "The stock market fell 3% today amid fears of inflation.",
        ["The topic is cats."],
    ),
    JudgeRequest.judge(
        "Describe Paris.",
        "PARIS IS THE CAPITAL OF FRANCE AND A CITY OF ART.",
        "The entire response is in capital letters.",
    ),
    JudgeRequest.judge("Describe Paris.", "Paris is the capital of France.", "The response is written in Japanese."),
]


@pytest.fixture(scope="module")
def judge_config():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with embedded_judge("qwen2.5-coder-0.5b", threads=2, ctx=2048, max_tokens=32) as config:
        yield config


def test_real_judge_answers_are_parsed_with_p_yes(judge_config, tmp_path):
    client = JudgeClient(judge_config.replace(cache_dir=str(tmp_path)))
    outcomes = client.run_many(REQUESTS, progress=False)
    parsed = [o for o in outcomes if o.passed is not None]
    assert len(parsed) >= 3, [o.raw for o in outcomes]
    for o in outcomes:
        assert o.raw is not None and o.completion_tokens > 0 and o.prompt_tokens > 50
        if o.passed is None:
            assert o.error  # an unparseable answer is recorded, never turned into False
        else:
            assert o.p_yes is not None and 0.0 <= o.p_yes <= 1.0
            assert (o.p_yes >= 0.5) == o.passed  # greedy decoding picks the likelier verdict token
    stats = client.stats.to_dict()
    assert stats["calls"] == len(REQUESTS) and stats["failed"] == len(outcomes) - len(parsed)
    assert stats["completion_tokens"] > 0 and stats["latency_p50_s"] > 0

    warm = JudgeClient(judge_config.replace(cache_dir=str(tmp_path)))
    again = warm.run_many(REQUESTS, progress=False)
    assert warm.stats.calls == 0 and warm.stats.cache_hits == len(REQUESTS)
    assert [o.raw for o in again] == [o.raw for o in outcomes]


def test_real_judge_is_deterministic_at_temperature_zero(judge_config):
    client = JudgeClient(judge_config.replace(logprobs=False))
    first = client.run_many(REQUESTS[:2], progress=False)
    second = client.run_many(REQUESTS[:2], progress=False)
    assert [o.raw for o in first] == [o.raw for o in second]
    assert all(o.p_yes is None for o in first)
