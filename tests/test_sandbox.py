"""SandboxPool and validate_code: results, ordering, errors, worker replacement, caching, parameters."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from verif_nb.errors import ParamsError, SandboxError
from verif_nb.sandbox import DEFAULT_ALLOWED_IMPORTS, CheckResult, CheckTask, SandboxPool, validate_code

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "verinstruct_format" / "example.jsonl"


def fn(body: str, head: str = "") -> str:
    """Source of a check_following with the given one-expression or multi-line body."""
    lines = body.strip("\n").splitlines()
    if len(lines) == 1 and not lines[0].lstrip().startswith(("return", "raise", "while", "for", "if")):
        lines = ["return " + lines[0]]
    body = "\n".join("    " + line for line in lines)
    return f"{head}\ndef check_following(instruction, response):\n{body}\n"


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2, timeout_s=0.5) as shared_pool:
        yield shared_pool


# -- validate_code (static, nothing runs) ---------------------------------------------------------------
VALIDATE_CASES = [
    (fn("len(response.split()) >= 3"), None),
    (fn("bool(re.search(r'\\d+', response))", "import re"), None),
    (fn("Counter(response.split()).most_common(1)[0][1] < 5", "from collections import Counter"), None),
    (fn("ET.fromstring(response).tag == 'a'", "import xml.etree.ElementTree as ET"), None),
    (fn("urlparse(response).scheme == 'https'", "from urllib.parse import urlparse"), None),
    (fn("detect(response) == 'fr'", "from langdetect import detect"), None),
    (fn("'{} words'.format(len(response.split())) != ''"), None),
    (
        "class P:\n    def __init__(self, text):\n        self.text = text\n"
        "def check_following(instruction, response):\n    return P(response).text == response\n",
        None,
    ),
    ("def check_following(instruction, response):\n    input = response\n    return input\n", None),
    ("import os\n" + fn("True"), "import of 'os' is not allowed (line 1)"),
    ("from subprocess import run\n" + fn("True"), "import of 'subprocess' is not allowed (line 1)"),
    ("import urllib.request\n" + fn("True"), "import of 'urllib.request' is not allowed (line 1)"),
    ("from urllib import request\n" + fn("True"), "import of urllib.request is not allowed (line 1)"),
    ("from llm_call import llm_judge\n" + fn("True"), None),  # a stub in the sandbox
    ("import pathlib\n" + fn("True"), "import of 'pathlib' is not allowed (line 1)"),
    ("return 1\n" + fn("True"), "SyntaxError line 1: 'return' outside function"),
    ("from . import x\n" + fn("True"), "relative imports are not allowed (line 1)"),
    ("from re import *\n" + fn("True"), "'from re import *' is not allowed"),
    ("from operator import attrgetter\n" + fn("True"), "import of operator.attrgetter is not allowed"),
    (fn("().__class__.__base__.__subclasses__()"), "access to attribute '__class__' is not allowed (line 3)"),
    (fn("check_following.__globals__"), "access to attribute '__globals__' is not allowed"),
    (fn("__builtins__"), "use of '__builtins__' is not allowed"),
    (fn("__import__('os')"), "use of '__import__' is not allowed"),
    (fn("(x for x in []).gi_frame"), "access to attribute 'gi_frame' is not allowed"),
    (fn("open('/tmp/x', 'w')"), "builtin 'open' is not available in the sandbox (line 3)"),
    (fn("eval('1')"), "builtin 'eval' is not available"),
    (fn("'{0.__class__}'.format(response)"), "format field '0.__class__' is not allowed"),
    (fn("fmt.format(response)", "fmt = '{}'"), "str.format on a non-literal string is not allowed"),
    (fn("re.findall", "import re\nre.findall = None"), "assigning attributes of shared objects is not allowed"),
    (fn("True", "import langdetect\nlangdetect.DetectorFactory.seed = 3"), None),
    (fn("True", "import langdetect\nlangdetect.DetectorFactory.other = 3"), "assigning attributes"),
    (
        "def check_following(instruction, response):\n    match response:\n        case str(__class__=c):\n"
        "            return c\n",
        "access to attribute '__class__' is not allowed",
    ),
    ("def check(instruction, response):\n    return True\n", "defines no check_following"),
    ("def check_following(response):\n    return True\n", "must accept (instruction, response)"),
    ("async def check_following(instruction, response):\n    return True\n", "not async"),
    ("def check_following(instruction, response):\n    return (\n", "SyntaxError line 2"),
    ("x = 1\n  y = 2\n", "SyntaxError line 2"),
]


@pytest.mark.parametrize("code,expected", VALIDATE_CASES)
def test_validate_code(code, expected):
    problem = validate_code(code)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_validate_code_respects_a_custom_allow_list():
    code = fn("json.loads(response)", "import json")
    assert validate_code(code) is None
    assert validate_code(code, allowed_imports=frozenset({"re"})) == "import of 'json' is not allowed (line 1)"


def test_allow_list_is_documented_data():
    assert {"re", "string", "math", "json", "collections", "langdetect"} <= DEFAULT_ALLOWED_IMPORTS
    assert not {"os", "sys", "io", "subprocess", "socket", "ctypes", "pickle", "builtins"} & DEFAULT_ALLOWED_IMPORTS


# -- running checks ---------------------------------------------------------------------------------------
RUN_CASES = [
    # (code, response, passed, error substring)
    (fn("len(response.split()) >= 3"), "one two three", True, None),
    (fn("len(response.split()) >= 3"), "one two", False, None),
    (fn("re.search('cat', response)", "import re"), "a cat", True, None),  # a Match is truthy
    (fn("re.search('cat', response)", "import re"), "a dog", False, None),  # None is falsy
    (fn("[w for w in response.split() if w.isupper()]"), "NASA rocks", True, None),
    (fn("response.count('x')"), "no letter", False, None),
    (fn("instruction == 'instruction'"), "anything", True, None),
    (fn("1 / 0"), "x", None, "ZeroDivisionError: division by zero (line 3)"),
    (fn("int(response)"), "abc", None, "ValueError: invalid literal"),
    (fn("json.loads(response)['a'] == 1", "import json"), '{"a": 1}', True, None),
    (fn("json.loads(response)", "import json"), "not json", None, "JSONDecodeError"),
    (
        fn("detect(response) == 'fr'", "from langdetect import detect"),
        "Bonjour, je m'appelle Marie et j'habite à Paris depuis dix ans.",
        True,
        None,
    ),
    (
        fn("len(sent_tokenize(response, 'english')) == 2", "from punkt import sent_tokenize"),
        "Mr. Smith went home. He slept.",
        True,
        None,
    ),
    (
        fn("datetime.strptime(response, '%Y-%m-%d').year == 2024", "from datetime import datetime"),
        "2024-05-01",
        True,
        None,
    ),
    (
        fn("detect(response) == 'en'", "from langdetect import detect, DetectorFactory\nDetectorFactory.seed = 0"),
        "This is plainly an English sentence about the weather today.",
        True,
        None,
    ),
    (fn("P(1, 2).b == 2", "from collections import namedtuple\nP = namedtuple('P', 'a b')"), "x", True, None),
    (
        "from html.parser import HTMLParser\nclass Tags(HTMLParser):\n    def __init__(self):\n"
        "        super().__init__()\n        self.seen = []\n    def handle_starttag(self, tag, attrs):\n"
        "        self.seen.append(tag)\ndef check_following(instruction, response):\n    p = Tags()\n"
        "    p.feed(response)\n    return p.seen == ['b', 'i']\n",
        "<b>bold</b> and <i>it</i>",
        True,
        None,
    ),
    (fn("urllib.parse.urlparse(response).netloc == 'a.org'", "import urllib.parse"), "https://a.org/x", True, None),
    (fn("print('noise') or True"), "x", True, None),
    (fn("len(response) > 0", "from llm_call import llm_judge, llm_score"), "x", True, None),  # imported, unused
    ("import os\n" + fn("True"), "x", None, "import of 'os' is not allowed"),
    ("def check(instruction, response):\n    return True\n", "x", None, "defines no check_following"),
    ("def check_following(instruction, response)\n    return True\n", "x", None, "SyntaxError line 1"),
    ("check_following = 3\n", "x", None, "defines no check_following"),
    (
        "raise ValueError('at import')\n" + fn("True"),
        "x",
        None,
        "error while defining check_following: ValueError: at import (line 1)",
    ),
    (fn("getattr(response, '__cla' + 'ss__')"), "x", None, "access to attribute '__class__' is not allowed"),
    (fn("statistics.sys.modules", "import statistics"), "x", None, "access to module 'sys' is not allowed"),
]


def test_check_batch_results_in_order(pool):
    tasks = [CheckTask(code, "instruction", response) for code, response, _, _ in RUN_CASES]
    results = pool.check_batch(tasks)
    assert len(results) == len(RUN_CASES)
    for (code, _response, passed, error), result in zip(RUN_CASES, results):
        assert isinstance(result, CheckResult)
        assert result.passed is passed, (code, result)
        if error is None:
            assert result.error is None, (code, result)
        else:
            assert result.error and error in result.error, (code, result)
        assert result.seconds >= 0


def test_example_file_rule_functions_run_and_llm_ones_refuse(pool):
    rows = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    tasks, kinds = [], []
    for row in rows:
        for checker, code in zip(row["checkers"], row["functions"]):
            kind = checker.split("]")[0].strip("[")
            kinds.append(kind)
            tasks.append(
                CheckTask(
                    code,
                    "instruction",
                    "1. Evaporation.\n2. Condensation.\n3. Rain, collision, collision.\n\nSecond paragraph.",
                )
            )
            assert validate_code(code) is None, code
    results = pool.check_batch(tasks)
    for kind, result in zip(kinds, results):
        if kind == "rule":
            assert result.passed in (True, False) and result.error is None
        else:  # the [llm] functions call the judge shim, a stub that refuses inside the sandbox
            assert result.passed is None and "llm_judge is a judge call" in result.error
    # The numbered-list checker of example-0002 sees exactly three items.
    list_check = rows[1]["functions"][0]
    assert pool.check(list_check, "instruction", "1. a\n2. b\n3. c").passed is True
    assert pool.check(list_check, "instruction", "1. a\n2. b").passed is False


def test_large_batch_is_spread_over_workers_and_keeps_order(pool):
    code = fn("int(response) % 3 == 0")
    tasks = [CheckTask(code, "instruction", str(i)) for i in range(1000)]
    results = pool.check_batch(tasks)
    assert [r.passed for r in results] == [i % 3 == 0 for i in range(1000)]
    assert len(pool.pids()) == 2


# State a function could carry from one check to the next: a module-level list, a mutable default argument, a
# global counter. Each passes only for the first response it has seen, so a verdict that depends on what ran
# before it in the same process shows.
STATEFUL_CODES = (
    "calls = []\n" + fn("calls.append(response)\nreturn len(calls) == 1 and response.startswith('a')"),
    "def check_following(instruction, response, _seen=[]):\n"
    "    _seen.append(response)\n    return len(_seen) == 1 and response.startswith('a')\n",
    "N = 0\n" + fn("global N\nN += 1\nreturn N == 1 and response.startswith('a')"),
)


@pytest.mark.parametrize("exec_style", ["verif_nb", "verif"])
def test_a_verdict_never_depends_on_the_responses_or_records_checked_before_it(exec_style):
    """One child checks every response of a function (and of every record with the same code): each check runs
    the module body afresh, so the order of responses and records changes no verdict (VerIF runs the code afresh
    per answer). The verif style's module-level names are invisible to the function, so its codes use none."""
    codes = STATEFUL_CODES if exec_style == "verif_nb" else STATEFUL_CODES[1:2]
    responses = ["a1", "b2", "a3", "b4", "a5"]
    with SandboxPool(workers=1, timeout_s=1.0, exec_style=exec_style, python_layers=exec_style == "verif_nb") as single:
        for code in codes:
            # two records (instructions) with the same code, responses in three orders, all in one batch each
            for order in (responses, responses[::-1], responses[2:] + responses[:2]):
                tasks = [CheckTask(code, instruction, r) for instruction in ("record A", "record B") for r in order]
                results = single.check_batch(tasks)
                assert [(r.passed, r.error) for r in results] == [(t.response.startswith("a"), None) for t in tasks]


def test_concurrent_callers_get_their_own_answers(pool):
    code = fn("response.startswith(instruction)")
    failures = []

    def caller(tag: str) -> None:
        tasks = [CheckTask(code, tag, f"{tag if i % 2 else 'other'}-{i}") for i in range(200)]
        got = [r.passed for r in pool.check_batch(tasks)]
        if got != [bool(i % 2) for i in range(200)]:
            failures.append(tag)

    threads = [threading.Thread(target=caller, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_timeout_is_reported_and_the_rest_of_the_batch_still_answered(pool):
    loop = fn("while True:\n    pass")
    c_level = fn("sum(range(10 ** 13))")  # one C call: the alarm can't interrupt it, the watchdog kills
    ok = fn("response == 'yes'")
    tasks = [
        CheckTask(c, "instruction", r) for c, r in [(ok, "yes"), (loop, "x"), (ok, "no"), (c_level, "x"), (ok, "yes")]
    ]
    results = pool.check_batch(tasks)
    assert [r.passed for r in results] == [True, None, False, None, True]
    assert results[1].error == "timed out after 0.5 s"
    assert results[3].error == "timed out after 0.5 s (check process killed)"
    assert pool.check(ok, "instruction", "yes").passed is True


def test_worker_crash_mid_batch_is_replaced_and_only_that_check_fails():
    # The static screen is off so the crash can reach os._exit; only tests may do this.
    crash = fn(
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        ".__init__.__globals__['_exit'](7)"
    )
    ok = fn("response == 'yes'")
    with SandboxPool(workers=1, timeout_s=0.5, _static_screen=False) as single:
        first = single.check(ok, "instruction", "yes")
        pid = single.pids()
        tasks = [CheckTask(c, "instruction", r) for c, r in [(ok, "yes"), (ok, "no"), (crash, "x"), (ok, "yes")]]
        results = single.check_batch(tasks)
        assert first.passed is True
        assert [r.passed for r in results] == [True, False, None, True]
        assert results[2].error == "check process exited early (exit code 7)"
        assert single.pids() == pid  # the child died; the clean zygote that forks children lives on


def test_memory_limit_gives_memory_error_and_pool_recovers(pool):
    results = pool.check_batch(
        [
            CheckTask(fn("len('x' * (10 ** 10))"), "instruction", "x"),
            CheckTask(fn("len(response)"), "instruction", "abc"),
        ]
    )
    assert results[0].passed is None and results[0].error.startswith("MemoryError (memory limit 512 MB)")
    assert results[1].passed is True


def test_checker_prints_never_reach_the_caller(pool, capfd):
    assert pool.check(fn("print('LOUD' * 1000) or True"), "instruction", "x").passed is True
    out, err = capfd.readouterr()
    assert "LOUD" not in out and "LOUD" not in err


def test_custom_allow_list_and_missing_modules():
    with SandboxPool(workers=1, timeout_s=0.5, allowed_imports=frozenset({"re"})) as narrow:
        assert "import of 'json' is not allowed" in narrow.check(fn("True", "import json"), "instruction", "x").error
        assert narrow.check(fn("bool(re.match('a', response))", "import re"), "instruction", "abc").passed
    with SandboxPool(
        workers=1, timeout_s=0.5, allowed_imports=DEFAULT_ALLOWED_IMPORTS | {"surely_not_installed_mod"}
    ) as wide:
        result = wide.check(fn("True", "import surely_not_installed_mod"), "instruction", "x")
        assert result.passed is None and "allowed, but not importable in the sandbox" in result.error


def test_bad_task_values_are_results_not_exceptions(pool):
    results = pool.check_batch(
        [
            CheckTask(fn("True"), "instruction", None),  # type: ignore[arg-type]
            "not a task",
        ]
    )  # type: ignore[list-item]
    assert results[0].passed is None and "response must be a string" in results[0].error
    assert results[1].passed is None and "expected a CheckTask" in results[1].error
    assert pool.check_batch([]) == []


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"workers": 0}, "workers"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"memory_mb": 10}, "memory_mb"),
        ({"max_batch": 0}, "max_batch"),
        ({"spares": 0}, "spares"),
        ({"parallel": 0}, "parallel"),
        ({"exec_style": "exec"}, "exec_style"),
    ],
)
def test_bad_parameters(kwargs, fragment):
    with pytest.raises(ParamsError, match=fragment):
        SandboxPool(**kwargs)


def test_memory_limit_below_interpreter_size_is_a_clear_error():
    with SandboxPool(workers=1, memory_mb=32) as tiny:
        with pytest.raises(SandboxError, match="raise memory_mb"):
            tiny.check(fn("True"), "instruction", "x")


def test_lazy_start_rss_and_close():
    pool = SandboxPool(workers=1, timeout_s=0.5)
    assert pool.pids() == [] and pool.rss_bytes() == 0
    assert pool.check(fn("True"), "instruction", "x").passed is True
    assert pool.rss_bytes() > 5 * 2**20
    time.sleep(1.0)  # the stock is forked after the batch; PSS read while children appear misses sharers
    assert 5 * 2**20 < pool.pss_bytes() < pool.rss_bytes()  # the stock shares the zygote's pages
    pids = pool.pids()
    pool.close()
    pool.close()
    assert pool.pids() == []
    import psutil

    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    with pytest.raises(SandboxError, match="closed"):
        pool.check(fn("True"), "instruction", "x")


def _pool_process_count(pool: SandboxPool) -> int:
    import psutil

    total = 0
    for pid in pool.pids():
        try:
            total += 1 + len(psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            pass
    return total


def test_finished_children_are_killed_after_the_batch_and_the_stock_refilled():
    """Each function gets its own child; finished ones wait out the batch, then go: none accumulate."""
    import time

    with SandboxPool(workers=1, spares=2) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        time.sleep(1.0)
        settled = _pool_process_count(pool)  # bubblewrap, the zygote and a stock of 2 children
        codes = [f"# record {i}\n" + fn("len(response) > 1") for i in range(12)]
        results = pool.check_batch([CheckTask(c, "instruction", "yes") for c in codes])
        assert [r.passed for r in results] == [True] * 12
        deadline = time.monotonic() + 10
        while _pool_process_count(pool) != settled and time.monotonic() < deadline:  # killed, and refilled
            time.sleep(0.05)
        assert _pool_process_count(pool) == settled


def test_worker_killed_from_outside_is_replaced():
    """The whole worker dies mid-batch (as the OOM killer would do it): a fresh one takes over, the check that was
    running runs again (its child may have held verdicts back, so no check is blamed for the worker's death)
    and is charged only for what it does itself (here: running past its time), its neighbours keep theirs."""
    import os
    import signal

    slow = fn("x = 0\nwhile True:\n    x += 1\nreturn x > 0")
    ok = fn("response == 'yes'")
    with SandboxPool(workers=1, timeout_s=2) as single:
        assert single.check(ok, "instruction", "yes").passed is True
        victim = single.pids()[0]  # the whole worker (bubblewrap and zygote), not just a check's process
        killer = threading.Timer(0.5, os.kill, args=(victim, signal.SIGKILL))
        killer.start()
        results = single.check_batch(
            [CheckTask(c, "instruction", r) for c, r in [(ok, "yes"), (slow, "x"), (ok, "no")]]
        )
        killer.join()
        assert [r.passed for r in results] == [True, None, False]
        assert "timed out after 2.0 s" in results[1].error
        assert single.check(ok, "instruction", "yes").passed is True
        assert single.pids() and single.pids() != [victim]


def test_verif_exec_style_reproduces_the_original_executors_namespace_quirks():
    constant = "LIMIT = 3\ndef check_following(i, r):\n    return len(r) > LIMIT\n"
    alias = "import re as regex\ndef check_following(i, r):\n    return bool(regex.search('a', r))\n"
    nested = "def check_following(i, r):\n    import json\n    return json.loads(r) == 1\n"
    tasks = [CheckTask(c, "instruction", r) for c, r in ((constant, "abcd"), (alias, "abc"), (nested, "1"))]
    with SandboxPool(workers=1, exec_style="verif") as verif_style, SandboxPool(workers=1) as ours:
        original = verif_style.check_batch(tasks)
        plain = ours.check_batch(tasks)
    # The original runs the module with split globals/locals and replays imports without their alias.
    assert [r.passed for r in original] == [None, None, True]
    assert "NameError: name 'LIMIT'" in original[0].error and "name 'regex'" in original[1].error
    assert [r.passed for r in plain] == [True, True, True]


def test_verif_exec_style_lets_module_level_code_read_the_response_being_checked():
    """VerIF's executor passes ``{"response": response}`` as the module's locals, per answer: module-level code
    that reads ``response`` runs (and sees each answer in turn); the default profile has no such name there."""
    codes = (
        "WORDS = response.split()\ndef check_following(i, r):\n    return True\n",
        "if 'fine' in response:\n    def check_following(i, r):\n        return True\n"
        "else:\n    def check_following(i, r):\n        return False\n",
        "def check_following(i, r, whole=response):\n    return whole == r\n",
    )
    tasks = [CheckTask(c, "instruction", r) for c in codes for r in ("ok fine", "not good")]
    # as the reference profile runs it: VerIF's exec, no Python layers
    with SandboxPool(workers=1, exec_style="verif", python_layers=False) as verif_style, SandboxPool(workers=1) as ours:
        original = verif_style.check_batch(tasks)
        plain = ours.check_batch(tasks)
    assert [r.passed for r in original] == [True, True, True, False, True, True]
    assert all(r.error is None for r in original)
    assert all(r.passed is None and r.error for r in plain)


def test_host_calls_answer_judge_shim_functions_from_the_parent():
    seen = []

    def llm_extract(instruction, response, request):
        seen.append((instruction, response, request))
        return response.upper()

    code = (
        "from llm_call import llm_extract\n"
        "def check_following(instruction, response):\n"
        "    return llm_extract(instruction, response, 'the title') == 'HELLO'\n"
    )
    with SandboxPool(workers=1, host_functions={"llm_extract": llm_extract}) as pool:
        results = pool.check_batch([CheckTask(code, "instruction", r) for r in ("hello", "bye")])
    assert [r.passed for r in results] == [True, False]
    assert seen == [("instruction", "hello", "the title"), ("instruction", "bye", "the title")]
    with SandboxPool(workers=1) as no_judge:  # nobody answers: the check is unverifiable, with the reason
        result = no_judge.check(code, "instruction", "hello")
    assert result.passed is None and "llm_extract is a judge call" in result.error


def test_a_failing_host_function_is_that_checks_error():
    code = "from llm_call import llm_extract\ndef check_following(i, r):\n    return llm_extract(i, r, 'x') == 'y'\n"

    def broken(*args):
        raise TimeoutError("judge timed out")

    with SandboxPool(workers=1, host_functions={"llm_extract": broken}) as pool:
        result = pool.check(code, "instruction", "x")
    assert result.passed is None and "TimeoutError: judge timed out" in result.error


def test_closing_the_pool_releases_its_descriptors():
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    with SandboxPool(workers=2, spares=8) as pool:
        pool.check_batch([CheckTask(fn(f"len(response) > {i}"), "instruction", "x") for i in range(6)])
        assert open_fds() > before  # the stock's sockets
    assert open_fds() == before


# A small llm_call.py shaped like VerIF's (the real one is not shipped): its prompts are read, never run.
ORIGINAL_LLM_CALL = """import re
prompt_template = "I:$I$ R:$R$ C:$C$"
def generate_chat(messages, max_tokens=128, temperature=0.0):
    return api_model.generate_chat(messages, max_tokens, temperature).strip()
def llm_judge(instruction, response, constraint):
    if isinstance(response, list):
        response = "\\n\\n".join(response)
    prompt = prompt_template.replace("$R$", response).replace("$C$", constraint).replace("$I", instruction)
    data = [{"role": "user", "content": prompt}]
    response = generate_chat(data)
    return response[0] == "Y"
def llm_score(instruction, response, checkers):
    prompt = f"I:{instruction} R:{response} C:{checkers}"
    data = [{"role": "user", "content": prompt}]
    response = generate_chat(data, max_tokens=64)
    return extract_score(response)
"""


def test_the_reference_llm_call_builds_the_prompt_on_the_rules_own_objects(tmp_path):
    """The reference profile's llm_call module does what the original's does, in the child, on the rule's own
    objects (a tuple is a tuple, str.replace on one raises); only the finished request reaches the caller. It
    offers the original module's other names; a request over the byte limit is that check's error alone."""
    from verif_nb.judge.original import load_original_prompts

    path = tmp_path / "llm_call.py"
    path.write_text(ORIGINAL_LLM_CALL)
    sent = []

    def generate_chat(messages, max_tokens, temperature):
        sent.append((messages[0]["content"], max_tokens, temperature))
        return "Y [[1]]"  # stripped, as OriginalCalls.generate_chat returns it

    head = "from llm_call import llm_score, llm_judge, extract_score, prompt_template\n"
    codes = [
        fn("llm_score(instruction, response, ('tone', 2)) == 1", head),
        fn("llm_judge(instruction, (response, 'x'), 'polite')", head),
        fn("llm_judge(instruction, [response, 'x'], 'polite')", head),
        fn("extract_score('a [[7]]') == 7 and prompt_template == 'I:$I$ R:$R$ C:$C$'", head),
        fn("llm_score(instruction, response * 600_000, 'c')", head),
        fn("llm_score(instruction, response, {'k': 1.5})", head),
    ]
    with SandboxPool(
        workers=1,
        exec_style="verif",
        python_layers=False,
        llm_call=load_original_prompts(path).for_sandbox(),
        host_functions={"generate_chat": generate_chat},
    ) as pool:
        results = pool.check_batch([CheckTask(code, "do", "hi") for code in codes])
    assert [r.passed for r in results] == [True, None, True, True, None, True], results
    assert "TypeError: replace() argument 2 must be str, not tuple" in results[1].error
    assert "over the sandbox's limits" in results[4].error
    assert sent == [
        ("I:do R:hi C:('tone', 2)", 64, 0.0),
        ("I:do$ R:hi\n\nx C:polite", 128, 0.0),  # the original replaces "$I", not "$I$"
        ("I:do R:hi C:{'k': 1.5}", 64, 0.0),
    ]
