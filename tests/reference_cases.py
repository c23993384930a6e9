"""A seeded generator of random cases for the differential test of the reference profile (issue 20).

A case is one VerInstruct row (instruction, checkers, functions), one response, and the judge's script for every
request the case may make (see tests/scripted_judge.py): the main ``llm_score`` call, and each judge call that
rule code makes (``llm_extract`` / ``llm_score`` / ``llm_judge``), each tagged so the stub knows whose it is.
Each case draws from every feature of issue 20; ``features`` lists the ones it has, so a run can say what it
covered. Nothing here knows the expected reward: the original code computes it.

Example:
    >>> cases = generate(7, 40)
    >>> len(cases), cases[0]["id"], sorted(cases[0]) == sorted(CASE_KEYS)
    (40, 'c0', True)
    >>> generate(7, 40) == cases  # the seed fixes everything
    True
"""

from __future__ import annotations

import random
from typing import Any

CASE_KEYS = ("id", "instruction", "response", "checkers", "functions", "script", "features")
PRELUDE = "import sys\nsys.path.append('/opt/VerIF/verl/utils/reward_score/local_server')\n"

# ---- the judge's replies ------------------------------------------------------------------------------------
SCORE_TEXTS = [
    "[[1]]",
    "[[0]]",
    "[[1]]",
    "[[0]]",
    "[[2]]",
    "[[10]]",
    " [[1]] All met. ",
    "\n\n[[0]] The tone is off.\n",
    "<think>maybe [[0]]...</think>[[1]]",
    "<think>the reasoning was cut before it",
    "",
    "   ",
    "[[1]] and later [[0]]",
    "Score: 1",
    "[[ 1 ]]",
    "[[-1]]",
    "[[1.0]]",
    "[[\u0663]]",  # an Arabic-Indic digit: \d matches it, int() reads 3
    "是 [[1]]",
]
EXTRACT_TEXTS = [
    "ok",
    "OK",
    "  Short title  ",
    "",
    "NA",
    "A title that is much longer than twenty characters",
    "是",
    "否",
]
JUDGE_TEXTS = ["是", "否", "是的，满足", "", "  是", "No", "是"]
HTTP_ERRORS = [500, 502, 503, 429, 408, 409, 400, 404]
BODY_SHAPES = ["null", "parts", "text_choice", "list_body", "not_chat", "bad_json", "empty_choices", "no_message"]


def _steps(rng: random.Random, texts: list[str], features: set[str]) -> list[dict[str, Any]]:
    """The script of one request: usually one answer; sometimes HTTP errors first, a slow reply, an odd body."""
    answer: dict[str, Any] = {"content": rng.choice(texts)}
    roll = rng.random()
    if roll < 0.06:
        answer["delay"] = rng.choice([0.4, 1.0, 2.5])
        features.add("slow_judge")
    elif roll < 0.16:
        answer["shape"] = rng.choice(BODY_SHAPES)
        features.add("judge_body_shape")
        features.add(f"shape_{answer['shape']}")
    steps = [answer]
    if rng.random() < 0.12:
        failures = rng.choice([1, 1, 2, 3, 4])
        steps = [{"status": rng.choice(HTTP_ERRORS)} for _ in range(failures)] + steps
        features.add("judge_http_error")
    return steps


# ---- rule functions -----------------------------------------------------------------------------------------
def _signature(rng: random.Random) -> tuple[str, str, str]:
    names = rng.choice([("instruction", "response"), ("instruction", "response"), ("inst", "resp"), ("_", "text")])
    return f"def check_following({names[0]}, {names[1]}):\n", names[0], names[1]


def _rule(rng: random.Random, case: str, index: int, script: dict, features: set[str]) -> str:
    """One [rule] function, drawn over the features; judge calls get channel ``f<index>`` in ``script``."""
    head, ins, r = _signature(rng)
    tag = f"«{case}/f{index}»"
    kind = rng.choice(RULE_KINDS)
    features.add(kind)
    if kind == "plain":
        body = rng.choice(
            [
                f"    return {r}.endswith('.')\n",
                f"    return len({r}.split()) >= {rng.randint(1, 12)}\n",
                f"    return {r} == {r}.lower()\n",
                f"    return {ins} == 'instruction'\n",
                f"    return '\\n' in {r}\n",
            ]
        )
        return head + body
    if kind == "truthiness":
        body = rng.choice(
            [
                f"    return {r}.count('a')\n",
                f"    return {r}[:{rng.randint(0, 3)}]\n",
                "    return None\n",
                "    return []\n",
                "    return [0]\n",
                "    return 0.0\n",
                f"    return {{'k': {r}}}\n",
                f"    return len({r}) % 3\n",
            ]
        )
        return head + body
    if kind == "exception":
        body = rng.choice(
            [
                "    return 1 / 0\n",
                "    return undefined_name > 1\n",
                f"    return int({r})\n",
                f"    return {r}[1000]\n",
                f"    raise ValueError('no ' + {r}[:5])\n",
                "    return {}['missing']\n",
            ]
        )
        return head + body
    if kind == "broken_code":
        return rng.choice(
            [
                head + "    return (\n",  # a syntax error
                "def check(instruction, response):\n    return True\n",  # no check_following
                "check_following = 5\n",  # not callable
                "",  # empty
                head + "    return True\nreturn 1\n",  # 'return' outside a function
            ]
        )
    if kind == "split_globals":
        return rng.choice(
            [
                f"LIMIT = 3\n{head}    return len({r}.split()) > LIMIT\n",
                f"def count(text):\n    return len(text)\n\n{head}    return count({r}) > 10\n",
                f"import re as regex\n{head}    return regex.search('a', {r}) is not None\n",
                f"from re import search as find\n{head}    return find('e', {r}) is not None\n",
                f"import re\n{head}    return re.search(r'\\d', {r}) is not None\n",
                f"import string\n{head}    return any(c in string.punctuation for c in {r})\n",
            ]
        )
    if kind == "import_os":
        return f"import os\n{head}    return os.path.basename('/a/' + {r}[:4]) == {r}[:4] and os.sep == '/'\n"
    if kind == "import_sys":
        return f"import sys\n{head}    return sys.maxsize > 2 ** 31 and len({r}) > {rng.randint(0, 20)}\n"
    if kind == "import_time":
        return f"import time\n{head}    time.sleep({rng.choice([0.05, 0.3, 1.2])})\n    return len({r}) > 5\n"
    if kind == "import_subprocess":
        return f"import subprocess\n{head}    return subprocess.PIPE == -1 and {r} != ''\n"
    if kind == "import_numpy":
        return rng.choice(
            [
                f"import numpy\n{head}    return numpy.mean([len(w) for w in {r}.split()] or [0]) > 4\n",
                f"import numpy as np\n{head}    return np.sum([1, 2]) == 3\n",  # the alias is invisible
                f"{head}    import numpy as np\n    return bool(np.array([len({r})]) > 5)\n",
            ]
        )
    if kind == "eval":
        return head + f"    return eval('len({r}) > 12')\n"
    if kind == "globals":
        return head + rng.choice(["    return 'check_following' not in globals()\n", "    return len(globals()) < 5\n"])
    if kind == "open":
        return f"import os\n{head}    return len(open(os.__file__).read()) > 1000 and len({r}) > 3\n"
    if kind == "str_format":
        return head + rng.choice(
            [
                f"    return '{{0}}-{{1}}'.format({r}[:3], len({r})).endswith('0')\n",
                f"    return '{{.__class__.__name__}}'.format({r}) == 'str'\n",
                f"    template = '{{}} words'\n    return template.format(len({r}.split())) != '3 words'\n",
            ]
        )
    if kind == "dunder_class":
        return head + rng.choice(
            [f"    return {r}.__class__.__name__ == 'str'\n", f"    return {r}.__class__({r}[:2]) == {r}[:2]\n"]
        )
    if kind == "heavy_cpu":
        n = rng.choice([200_000, 2_000_000, 8_000_000])
        return head + f"    total = 0\n    for i in range({n}):\n        total += i % 7\n    return total % 2 == 0\n"
    if kind == "heavy_memory":
        mb = rng.choice([64, 300, 700])
        return head + f"    block = bytearray({mb} * 1024 * 1024)\n    return len(block) > 0 and len({r}) > 2\n"
    if kind == "llm_extract":
        script[f"f{index}"] = _steps(rng, EXTRACT_TEXTS, features)
        call = f"llm_extract({ins}, {r}, 'the first word {tag}')"
        check = rng.choice(
            [
                "    return len(answer) < 20\n",
                "    return answer.lower() == 'ok'\n",
                "    return answer == 'NA'\n",
                "    return answer\n",
            ]
        )
        if rng.random() < 0.3:
            features.add("exception")
            return (
                f"from llm_call import llm_extract\n{head}    try:\n        answer = {call}\n"
                f"    except Exception as err:\n        return type(err).__name__ == 'AttributeError'\n{check}"
            )
        return f"from llm_call import llm_extract\n{head}    answer = {call}\n{check}"
    if kind == "llm_score_in_rule":
        script[f"f{index}"] = _steps(rng, SCORE_TEXTS, features)
        checkers = rng.choice([f"'tone {tag}'", f"['[llm] Tone {tag}']"])
        return f"from llm_call import llm_score\n{head}    return llm_score({ins}, {r}, {checkers})\n"
    if kind == "llm_judge_in_rule":
        script[f"f{index}"] = _steps(rng, JUDGE_TEXTS, features)
        arg = rng.choice([r, f"[{r}, 'second part']"])
        return f"from llm_call import llm_judge\n{head}    return llm_judge({ins}, {arg}, 'be polite $R$ {tag}')\n"
    if kind == "module_response":  # VerIF execs the code with {"response": response} as its locals, per answer
        return rng.choice(
            [
                f"WORDS = response.split()\n{head}    return len({r}.split()) > {rng.randint(0, 6)}\n",
                f"WORDS = response.split()\n{head}    return len(WORDS) > 2\n",  # a module name: NameError there
                "if 'water' in response:\n    def check_following(i, r):\n        return True\n"
                "else:\n    def check_following(i, r):\n        return False\n",
                f"def check_following({ins}, {r}, whole=response):\n    return whole == {r}\n",
                f"FIRST = response[:1]\n{head}    return {r}[:1] == 'o'\n",
            ]
        )
    if kind == "state":
        # state a function could carry from one answer to the next; no case tag, so the same text recurs over
        # cases (records), which verif-nb checks in one process: VerIF runs the code afresh per answer
        return rng.choice(
            [
                "def check_following(instruction, response, _seen=[]):\n"
                "    _seen.append(response)\n    return len(_seen) == 1\n",
                "def check_following(instruction, response):\n"
                "    global N\n    N = globals().get('N', 0) + 1\n    return N == 1\n",
                "def check_following(instruction, response, _cache={}):\n"
                "    _cache[len(_cache)] = response\n    return len(_cache) < 2\n",
                "def check_following(instruction, response):\n    global SEEN\n"
                "    SEEN = globals().get('SEEN', ()) + (response,)\n    return len(SEEN) == 1\n",
            ]
        )
    if kind == "odd_host_args":  # arguments that are no strings: the original's string operations see them as such
        channel = f"f{index}"
        call = rng.choice(
            [
                ("llm_judge", f"llm_judge({ins}, ({r}, 'x'), 'polite {tag}')", JUDGE_TEXTS),
                ("llm_judge", f"llm_judge({ins}, {r}, ('polite {tag}',))", JUDGE_TEXTS),
                ("llm_judge", f"llm_judge({ins}, [{r}, ('x', 1)], 'polite {tag}')", JUDGE_TEXTS),
                ("llm_score", f"llm_score({ins}, {r}, ('tone {tag}', 2))", SCORE_TEXTS),
                ("llm_score", f"llm_score({ins}, {r}, {{'k': 1.5, 'tag': '{tag}', 'n': None}})", SCORE_TEXTS),
                ("llm_score", f"llm_score({ins}, ({r},), {{'tone {tag}'}})", SCORE_TEXTS),
                ("llm_score", f"llm_score(instruction={ins}, response={r}, checkers=['tone {tag}', 1.0])", SCORE_TEXTS),
                ("llm_extract", f"llm_extract({ins}, {r}, ('the first word {tag}', 3))", EXTRACT_TEXTS),
                ("llm_extract", f"llm_extract({ins}, [{r}], specific_prompt='the title {tag}')", EXTRACT_TEXTS),
            ]
        )
        script[channel] = _steps(rng, call[2], features)
        return f"from llm_call import {call[0]}\n{head}    return {call[1]}\n"
    if kind == "llm_call_names":  # the other names VerIF's llm_call module defines
        choice = rng.randrange(5)
        if choice == 4:
            script[f"f{index}"] = _steps(rng, EXTRACT_TEXTS, features)
            messages = f"[{{'role': 'user', 'content': 'say ok {tag}'}}]"
            return f"from llm_call import generate_chat\n{head}    return generate_chat({messages}) == 'ok'\n"
        return [
            f"from llm_call import extract_score\n{head}    return extract_score({r} + ' [[3]]') == 3\n",
            f"from llm_call import prompt_template\n{head}    return '$R$' in prompt_template and {r} != ''\n",
            f"import llm_call\n{head}    return llm_call.extract_score('[[2]] ' + {r}) == 2\n",
            f"from llm_call import *\n{head}    return extract_score({r}) == 0 and callable(llm_judge)\n",
        ][choice]
    if kind == "system_exit":
        return rng.choice([f"import sys\n{head}    sys.exit(3)\n", f"{head}    raise SystemExit('bye')\n"])
    if kind == "keyboard_interrupt":
        return head + "    raise KeyboardInterrupt\n"
    if kind == "truth_test_raises":
        return rng.choice(
            [
                head + "    class Odd:\n        def __bool__(self):\n            raise ValueError('no truth')\n"
                "    return Odd()\n",
                f"import numpy\n{head}    return numpy.array([len({r}), 1])\n",
            ]
        )
    raise AssertionError(kind)


RULE_KINDS = (
    ["plain"] * 8
    + ["truthiness"] * 4
    + ["exception"] * 3
    + ["broken_code"] * 2
    + ["split_globals"] * 4
    + ["llm_extract"] * 5
    + ["llm_score_in_rule", "llm_judge_in_rule"] * 2
    + ["import_os", "import_sys", "import_time", "import_subprocess", "import_numpy", "import_numpy"]
    + ["eval", "globals", "open", "str_format", "dunder_class", "heavy_memory"]
    + ["heavy_cpu"]
    + ["system_exit", "keyboard_interrupt", "truth_test_raises"]
    + ["module_response", "state", "odd_host_args", "llm_call_names"] * 2
)
LLM_NAMES = [
    "[llm] Desired_Writing_Style",
    "[llm] Tone",
    "[llm] Audience: children {braces} 'quotes'",
    "Specific_Format [llm]",
    "[rule][llm] Both_Tags",
    "[llm] 语气",
]
ODD_NAMES = ["[LLM] Upper_Case_Tag", "Untagged_Checker", "[Rule] Capital_Rule", "rule: no brackets", "[ rule ] Spaced"]
LLM_CODE = (
    "from llm_call import llm_score\ndef check_following(instruction, response):\n"
    "    return llm_score(instruction, response, {text!r})\n"
)
INSTRUCTIONS = [
    "Describe the water cycle in 120 words, mention 'evaporation'.",
    "写一首关于秋天的诗，不少于四行。",
    "Explain {braces} and f'strings' to a child.\nUse two paragraphs.",
    "Answer with $R$ and $C$ markers left as they are.",
]
WORDS = "the water cycle moves water evaporation lifts it and a banana has 3 parts ok Short title".split()


def _response(rng: random.Random, tag: str, features: set[str]) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14)))
    text = rng.choice([text, text + ".", text.capitalize() + ".", "ok", "", "$C$ and $I in the text"])
    text = f"{text} {tag}" if tag else text
    roll = rng.random()
    if roll < 0.25:
        features.add("think_handling")
        text = (
            rng.choice(
                [
                    "<think>Let me plan [[1]] first.</think>\n\n",
                    "<think>a</think>b</think>\n",
                    "reasoning without an opening tag</think>",
                    "<think>unfinished reasoning ",
                ]
            )
            + text
        )
    if rng.random() < 0.3:
        text = rng.choice(["  ", "\n", "\t"]) + text + rng.choice(["\n", "  \n", " "])
        features.add("whitespace")
    if rng.random() < 0.04:
        text += " \udc80"  # a lone surrogate (JSON can carry it; UTF-8 cannot)
        features.add("lone_surrogate")
    return text


def generate_case(rng: random.Random, index: int) -> dict[str, Any]:
    """One random case (see the module docstring)."""
    case = f"c{index}"
    features: set[str] = set()
    script: dict[str, list[dict[str, Any]]] = {"score": _steps(rng, SCORE_TEXTS, features)}
    instruction = rng.choice(INSTRUCTIONS) + f" «{case}»"
    response_tag = ""
    if rng.random() < 0.06:
        instruction = rng.choice(["", " ", "\n\t "])
        response_tag = f"«{case}»"  # the main call still carries the case: in the response
        features.add("empty_prompt")
    entries: list[tuple[str, str]] = []
    for i in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
        code = _rule(rng, case, i, script, features)
        if rng.random() < 0.15:
            code = PRELUDE + code
            features.add("prelude")
            if rng.random() < 0.3:  # the prelude's `import sys` reaches check_following's globals
                code += "    \ndef check_following(instruction, response):\n    return sys.maxsize > 0\n"
        entries.append((rng.choice(["[rule] ", "[rule]", "Length [rule] "]) + f"R{i}", code))
    for name in rng.sample(LLM_NAMES, rng.randint(0, 2)):
        entries.append((name, LLM_CODE.format(text=name)))
    if rng.random() < 0.2:
        odd = rng.choice(ODD_NAMES)
        entries.append((odd, _rule(rng, case, 9, script, features) if "ule" in odd else LLM_CODE.format(text=odd)))
        features.add("tag_parsing")
    rng.shuffle(entries)
    checkers, functions = [e[0] for e in entries], [e[1] for e in entries]
    if not entries:
        features.add("empty_checkers")
    elif rng.random() < 0.08:
        features.add("mismatched_lengths")
        if rng.random() < 0.5:
            checkers.append("[rule] Extra_Name")
        else:
            functions.append("def check_following(instruction, response):\n    return False\n")
    response = _response(rng, response_tag, features)
    if "lone_surrogate" in features and rng.random() < 0.5:  # an error message that quotes it, which VerIF prints
        checkers.insert(0, "[rule] Quotes_The_End")
        functions.insert(0, "def check_following(instruction, response):\n    raise ValueError(response[-12:])\n")
        features.add("exception")
    if any("[rule]" in c for c in checkers) and any("[llm]" in c for c in checkers):
        features.add("mixed_rule_llm")
    if any(s.get("content", "").count("[[") > 1 or "<think>" in s.get("content", "") for s in script["score"]):
        features.add("first_score_anywhere")
    return {
        "id": case,
        "instruction": instruction,
        "response": response,
        "checkers": checkers,
        "functions": functions,
        "script": script,
        "features": sorted(features),
    }


def generate(seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` cases from ``seed``; the same seed gives the same cases."""
    rng = random.Random(seed)
    return [generate_case(rng, i) for i in range(n)]
