"""The ``reference`` profile against the original VerIF reward: the original's quirks on hand-made rows, and verl rows.

The oracle here is the original code in ../shared/reference/verif_reward/, imported in-process with a fake
``build_model.APIModel`` that answers from a table (as its README describes). It pins down the original's
distinctive answers case by case, and checks that rows written by ``verif-nb export verl`` score the same through
verif-nb's verl reward. The proof that the reference profile is the original reward on any case is the random
differential test, tests/test_reference_differential.py (the original with its real openai SDK, in its own venv,
against ``verif-nb verify`` through a scripted judge server).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import types
from pathlib import Path

import pytest
from stub_judge_server import StubJudgeServer

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "verif_reward"
LLM_CALL = REFERENCE / "llm_call.py"
FAIL = object()  # the judge call fails (HTTP 500 here; the original's APIModel then returns "NA")

pytestmark = pytest.mark.skipif(
    not LLM_CALL.exists(), reason="../shared/reference/verif_reward is not beside the project"
)

RULES = {
    "ends_with_period": "def check_following(instruction, response):\n    return response.endswith('.')\n",
    "five_words": "def check_following(instruction, response):\n    return len(response.split()) >= 5\n",
    "raises": "def check_following(instruction, response):\n    return 1 / 0\n",
    "module_constant": "LIMIT = 3\ndef check_following(instruction, response):\n"
    "    return len(response.split()) > LIMIT\n",
    "module_helper": "def count(text):\n    return len(text)\n\ndef check_following(instruction, response):\n"
    "    return count(response) > 10\n",
    "extract": "from llm_call import llm_extract\ndef check_following(instruction, response):\n"
    "    title = llm_extract(instruction, response, 'the title of the text')\n    return len(title) < 20\n",
    "digit": "import re\ndef check_following(instruction, response):\n"
    "    return re.search(r'\\d', response) is not None\n",
    "alias_import": "import re as regex\ndef check_following(instruction, response):\n"
    "    return regex.search('a', response) is not None\n",
    "prelude": "import sys\nsys.path.append('/opt/verl/utils/reward_score/local_server')\n"
    "def check_following(instruction, response):\n    return response.endswith('.')\n",
    "truthy_count": "def check_following(instruction, response):\n    return response.count('a')\n",
    "uses_instruction": "def check_following(instruction, response):\n    return instruction == 'instruction'\n",
}
LLM_CODE = (
    "from llm_call import llm_score\ndef check_following(instruction, response):\n"
    "    return llm_score(instruction, response, {text!r})\n"
)
LLM_NAMES = [
    "[llm] Desired_Writing_Style",
    "[llm] Tone",
    "[llm] Audience: children {braces} 'quotes'",
    "Specific_Format [llm]",
    "[rule][llm] Both_Tags",
]
ODD_NAMES = ["[LLM] Upper_Case_Tag", "Untagged_Checker", "[Rule] Capital_Rule", "rule: no brackets"]
JUDGE_ANSWERS = [
    "[[1]]",
    "[[0]]",
    "[[2]]",
    " [[1]] All met. ",
    "<think>maybe [[0]]...</think>[[1]]",
    "<think>the reasoning was cut before it",
    "",
    "[[1]] and later [[0]]",
    "Score: 1",
    "[[10]]",
    FAIL,
]
EXTRACT_ANSWERS = ["Short title", "  A title that is much longer than twenty characters  ", "", FAIL]
INSTRUCTIONS = [
    "Describe the water cycle in 120 words, mention 'evaporation'.",
    "写一首关于秋天的诗，不少于四行。",
    "Explain {braces} and f'strings' to a child.\nUse two paragraphs.",
]
RESPONSES = [
    "The water cycle moves water. Evaporation lifts it.",
    "Short answer",
    "a banana has 3 parts.\n",
    "<think>Let me plan [[1]] first.</think>\n\nFinal answer with 7 words here.",
    "  padded reply.  ",
    "Line one\nLine two ends without a period\n",
]


def make_case(rng: random.Random, index: int) -> dict:
    rules = rng.sample(sorted(RULES), rng.randint(0, 3))
    llms = rng.sample(LLM_NAMES, rng.randint(0, 2))
    odd = rng.sample(ODD_NAMES, 1) if rng.random() < 0.3 else []
    entries = [(f"[rule] {name}", RULES[name]) for name in rules]
    entries += [(name, LLM_CODE.format(text=name)) for name in llms]
    entries += [(name, RULES["five_words"] if "ule" in name else LLM_CODE.format(text=name)) for name in odd]
    if not entries:
        entries = [("[rule] five_words", RULES["five_words"])]
    rng.shuffle(entries)
    return {
        "id": f"case-{index}",
        "instruction": rng.choice(INSTRUCTIONS),
        "response": rng.choice(RESPONSES),
        "checkers": [e[0] for e in entries],
        "functions": [e[1] for e in entries],
        "judge": rng.choice(JUDGE_ANSWERS),
        "extract": rng.choice(EXTRACT_ANSWERS),
    }


def table_cases() -> list[dict]:
    """One case per row of the issue's table, then random mixes."""
    base = {"instruction": INSTRUCTIONS[0], "response": RESPONSES[0], "extract": "Short title"}
    rows = [
        {"checkers": ["[rule] five_words"], "functions": [RULES["five_words"]], "judge": "[[0]]"},  # rule-only
        {
            "checkers": ["[rule] five_words", "[llm] Tone"],
            "functions": [RULES["five_words"], LLM_CODE.format(text="Tone")],
            "judge": "<think>[[0]]</think>[[1]]",
        },
        {"checkers": ["[llm] Tone"], "functions": [LLM_CODE.format(text="Tone")], "judge": "[[2]]"},
        {"checkers": ["[llm] Tone"], "functions": [LLM_CODE.format(text="Tone")], "judge": "<think>cut"},
        {
            "checkers": ["[rule] raises", "[rule] five_words"],
            "functions": [RULES["raises"], RULES["five_words"]],
            "judge": "[[1]]",
        },
        {"checkers": ["[llm] Tone"], "functions": [LLM_CODE.format(text="Tone")], "judge": FAIL},
        {
            "checkers": ["[LLM] Upper", "Tone [llm]", "untagged"],
            "functions": [LLM_CODE.format(text="x")] * 3,
            "judge": "[[1]]",
        },
        {
            "checkers": ["[rule] module_constant", "[rule] module_helper"],
            "functions": [RULES["module_constant"], RULES["module_helper"]],
            "judge": "[[1]]",
        },
        {
            "checkers": ["[rule] ends_with_period"],
            "functions": [RULES["ends_with_period"]],
            "judge": "[[1]]",
            "response": "It ends with a period.\n",
        },
        {"checkers": ["[rule] extract"], "functions": [RULES["extract"]], "judge": "[[1]]"},
        {"checkers": ["[rule] extract"], "functions": [RULES["extract"]], "judge": "[[1]]", "extract": FAIL},
        {
            "checkers": ["[rule] prelude", "[llm] Tone"],
            "functions": [RULES["prelude"], LLM_CODE.format(text="T")],
            "judge": "[[1]]",
        },
    ]
    cases = [{**base, **row, "id": f"row-{i}"} for i, row in enumerate(rows)]
    rng = random.Random(20261130)
    return cases + [make_case(rng, i) for i in range(300)]


CASES = table_cases()


class Table:
    """Answers both sides from the current case: the score prompt gets ``judge``, llm_extract gets ``extract``."""

    def __init__(self):
        self.case: dict = {}
        self.seen: list[tuple[str, int, float]] = []

    def answer(self, messages: list[dict], max_tokens: int) -> object:
        return self.case["judge"] if max_tokens == 4096 else self.case["extract"]


@pytest.fixture(scope="module")
def oracle():
    table = Table()

    class APIModel:  # build_model.APIModel, answering from the table; failures return "NA" as the original does
        def __init__(self, base_url, model_name, api_key="EMPTY"):
            pass

        def generate_chat(self, messages, max_tokens=1024, temperature=0.0):
            table.seen.append((json.dumps(messages, ensure_ascii=False), max_tokens, temperature))
            answer = table.answer(messages, max_tokens)
            return "NA" if answer is FAIL else answer

    fake = types.ModuleType("build_model")
    fake.APIModel = APIModel
    saved = {
        name: sys.modules.get(name) for name in ("build_model", "llm_call", "code_executer", "constraint_analyzer")
    }
    sys.modules["build_model"] = fake
    sys.path.insert(0, str(REFERENCE))
    try:
        import constraint_analyzer

        yield table, constraint_analyzer
    finally:
        sys.path.remove(str(REFERENCE))
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def original_reward(oracle, case: dict) -> tuple[float, list]:
    table, analyzer = oracle
    table.case, table.seen = case, []
    response = case["response"].split("</think>")[-1].strip()  # remote_if_verifier.parse_solution
    with contextlib.redirect_stdout(io.StringIO()):  # the original prints failing functions
        overall = analyzer.evaluate_if_reward_multi(
            case["instruction"], [response], case["checkers"], case["functions"]
        )["overall"][0]
    return float(overall), sorted(table.seen)


def test_the_table_rows_are_covered_by_distinct_outcomes(oracle):
    """The table rows give the original's distinctive answers (guards the cases themselves)."""
    rewards = {case["id"]: original_reward(oracle, case)[0] for case in CASES[:12]}
    assert rewards["row-0"] == 0.0  # rule-only record: the judge is still asked, and its [[0]] zeroes it
    assert rewards["row-1"] == 0.0  # the first [[n]] anywhere, even inside <think>
    assert rewards["row-2"] == 2.0  # unclamped
    assert rewards["row-4"] == 0.5  # a raising function scores 0, its neighbour still counts
    assert rewards["row-5"] == 0.0  # a failed judge call scores 0
    assert rewards["row-7"] == 0.0  # module-level names are invisible to check_following
    assert rewards["row-8"] == 1.0  # the response is stripped before the rules see it


def test_exported_verl_rows_are_read_by_the_original_reward_and_score_the_same(oracle, tmp_path):
    """`verif-nb export verl` output, scored by the original reward and by verif-nb's verl reward (reference)."""
    import pyarrow.parquet as pq

    from verif_nb.data import export_verl, load_sample
    from verif_nb.rewards import verl as verl_reward

    records = [r for r in load_sample().records if r.responses][:12]
    rows = pq.read_table(export_verl(records, tmp_path / "train.parquet")).to_pylist()
    judge_answers = {"judge": "[[1]]", "extract": "Short title"}
    with StubJudgeServer(answer=lambda body: "[[1]]" if body.get("max_tokens") == 4096 else "Short title") as stub:
        settings = {
            "profile": "reference",
            "mode": "hybrid",
            "judge": {"base_url": stub.url, "model": "stub", "template_file": str(LLM_CALL), "max_retries": 0},
        }
        checked = 0
        for row, record in zip(rows, records):
            truth = json.loads(row["reward_model"]["ground_truth"])
            instruction = row["prompt"][-1]["content"]
            for response in record.responses:
                case = {
                    **judge_answers,
                    "instruction": instruction,
                    "response": response.text,
                    "checkers": truth["checkers"],
                    "functions": truth["functions"],
                }
                expected, _ = original_reward(oracle, case)
                got = verl_reward.compute_score(
                    row["data_source"],
                    response.text,
                    row["reward_model"]["ground_truth"],
                    row["extra_info"],
                    verifier=settings,
                )
                assert got["verified"] == 1.0 and abs(got["score"] - expected) < 1e-9, (record.id, expected, got)
                checked += 1
    assert checked >= 30
