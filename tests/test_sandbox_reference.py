"""What the reference profile needs from the sandbox (issue 20, items 1-3 and 8): code that runs as written with
the Python layers off, limits as parameters, every judge-shim name served as a host call whose value reaches the
child unchanged, a check's clock paused while its host call runs, and no host call asked twice on a re-run."""

from __future__ import annotations

import importlib.util
import textwrap
import threading
import time

import pytest

from verif_nb.sandbox import CheckTask, SandboxPool


def code(body: str, head: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{head}\ndef check_following(instruction, response):\n{body}\n"


AS_WRITTEN = code(
    """
    checks = {
        "eval": eval("1 + 1") == 2,
        "globals": "check_following" in globals(),
        "open": len(open(os.__file__).read(10)) == 10,
        "format": "{} {}".format(response, 2) == response + " 2",
        "dunder": response.__class__ is str,
        "modules": bool(sys.version) and callable(time.sleep) and hasattr(subprocess, "run"),
    }
    failed = [name for name, ok in checks.items() if not ok]
    assert not failed, failed
    return True""",
    "import os, sys, time, subprocess",
)


def test_without_python_layers_code_runs_as_written_and_isolation_says_so():
    with SandboxPool(workers=1, python_layers=False, timeout_s=5) as bare:
        result = bare.check(AS_WRITTEN, "instruction", "resp")
        assert result.passed is True, result.error
        assert bare.isolation["python_layers"] == []
        assert bare.isolation["seccomp"] is True  # the kernel layers stay
    with SandboxPool(workers=1, timeout_s=5) as layered:  # the default profile refuses the same code
        refused = layered.check(AS_WRITTEN, "instruction", "resp")
        assert refused.passed is None and "not allowed" in refused.error
        assert "audit hook" in layered.isolation["python_layers"]


@pytest.mark.skipif(importlib.util.find_spec("numpy") is None, reason="numpy is not installed here")
def test_without_python_layers_an_installed_module_such_as_numpy_imports():
    numpy_check = code("return int(numpy.arange(4).sum()) == 6", "import numpy")
    with SandboxPool(workers=1, python_layers=False, timeout_s=10, memory_mb=2048) as bare:
        results = bare.check_batch([CheckTask(numpy_check, "instruction", r) for r in ("a", "b")])
    assert [r.passed for r in results] == [True, True], [r.error for r in results]


def test_limits_are_parameters_and_are_recorded():
    big = code("block = bytearray(600 * 2**20)\nreturn len(block) > 0")
    with SandboxPool(workers=1, python_layers=False, memory_mb=1024, timeout_s=10, cpu_s=30) as generous:
        assert generous.check(big, "instruction", "x").passed is True
        limits = generous.isolation["limits"]
    assert (limits["memory_mb"], limits["timeout_s"], limits["cpu_s"]) == (1024, 10.0, 30.0)
    with SandboxPool(workers=1, python_layers=False, memory_mb=256, timeout_s=10) as tight:
        assert "MemoryError" in tight.check(big, "instruction", "x").error


def test_the_cpu_bound_is_the_kernels_whatever_the_check_does_with_its_own_alarm():
    # With its alarm switched off, the check spins until the per-child CPU limit (RLIMIT_CPU: 1 s of CPU) kills
    # it, well before the parent's clock (60 s, generous for a loaded machine) would.
    spinner = code("signal.setitimer(signal.ITIMER_REAL, 0)\nwhile True:\n    pass", "import signal")
    with SandboxPool(workers=1, python_layers=False, timeout_s=60, cpu_s=1) as pool:
        result = pool.check(spinner, "instruction", "x")
    assert result.passed is None and "SIGXCPU" in result.error and "cpu_s" in result.error, result.error


JUDGE_CALLS = code(
    """
    return [llm_extract(instruction, response, "title"), llm_score(response), llm_judge(response, "q")]""",
    "from llm_call import llm_extract, llm_score, llm_judge",
)


@pytest.mark.parametrize("value", ["text", 7, 0.5, True, False, None, ["a", 1], {"k": [None]}])
def test_every_shim_name_is_a_host_call_and_its_value_reaches_the_child_unchanged(value):
    seen = []

    def host(name):
        def answer(*args):
            seen.append((name, args))
            return value

        return answer

    returns = code(
        f"""
        got = [llm_extract(instruction, response, "title"), llm_score(response), llm_judge(response, "q")]
        return got == [{value!r}] * 3 and all(type(g) is type({value!r}) for g in got)""",
        "from llm_call import llm_extract, llm_score, llm_judge",
    )
    functions = {name: host(name) for name in ("llm_extract", "llm_score", "llm_judge")}
    for layers in (True, False):
        seen.clear()
        with SandboxPool(workers=1, host_functions=functions, python_layers=layers) as pool:
            result = pool.check(returns, "instruction", "resp")
        assert result.passed is True, result.error
        assert seen == [
            ("llm_extract", ("instruction", "resp", "title")),
            ("llm_score", ("resp",)),
            ("llm_judge", ("resp", "q")),
        ]


def test_a_raising_host_function_is_that_checks_error_only():
    class JudgeDown(Exception):
        pass

    for error, expected in (
        (ConnectionError("judge down"), "ConnectionError: judge down (line 3)"),  # a builtin: raised as itself
        (JudgeDown("judge down"), "RuntimeError: llm_extract failed: JudgeDown: judge down (line 3)"),
    ):

        def broken(*args, error=error):
            raise error

        with SandboxPool(workers=1, host_functions={"llm_extract": broken}) as pool:
            results = pool.check_batch(
                [CheckTask(JUDGE_CALLS, "instruction", "x"), CheckTask(code("return True"), "instruction", "x")]
            )
        assert results[0].passed is None and results[0].error == expected
        assert results[1].passed is True


def test_a_checks_clock_pauses_while_its_host_call_runs_and_other_rows_keep_their_verdicts():
    """Issue 19 class 4 and issue 20 item 3: a judge answering in 1.5 s, checks limited to 0.5 s."""

    def slow_extract(instruction, response, request):
        time.sleep(1.5)
        return response.upper()

    slow = code("return llm_extract(instruction, response, 'q') == 'SLOW'", "from llm_call import llm_extract")
    honest = [code(f"return len(response) == {n}  # {n}") for n in range(12)]
    tasks = [CheckTask(slow, "instruction", "slow")] + [CheckTask(c, "instruction", "x" * 5) for c in honest]
    with SandboxPool(workers=1, timeout_s=0.5, host_functions={"llm_extract": slow_extract}) as pool:
        started = time.monotonic()
        results = pool.check_batch(tasks)
        elapsed = time.monotonic() - started
    assert results[0].passed is True, results[0].error
    assert results[0].seconds < 0.5  # the call's 1.5 s are not the check's time
    assert [r.passed for r in results[1:]] == [n == 5 for n in range(12)]
    assert elapsed < 10


def test_a_rerun_never_asks_a_host_call_again():
    """Issue 20 item 8: the second row's check dies after its host call; it and the row behind it run again in a
    new child, and the repeated call is answered from the batch's memo."""
    asked = []
    lock = threading.Lock()

    def llm_extract(instruction, response, request):
        with lock:
            asked.append(response)
        return response

    dies = code(
        """
        answer = llm_extract(instruction, response, "q")
        if response == "die":
            os._exit(3)
        if response == "hang":
            time.sleep(60)
        return answer == response""",
        "import os, time\nfrom llm_call import llm_extract",
    )
    responses = ["a", "die", "b", "hang", "c"]
    with SandboxPool(workers=1, timeout_s=1, python_layers=False, host_functions={"llm_extract": llm_extract}) as pool:
        results = pool.check_batch([CheckTask(dies, "instruction", r) for r in responses])
    assert [r.passed for r in results] == [True, None, True, None, True], [r.error for r in results]
    assert "exit code 3" in results[1].error and "timed out" in results[3].error
    assert sorted(asked) == sorted(responses)  # each row asked once, though "die" and "hang" ran twice


def test_the_original_executors_quirks_hold_with_the_python_layers_off():
    constant = "import re as regex\nLIMIT = 3\ndef check_following(i, r):\n    return len(r) > LIMIT\n"
    with SandboxPool(workers=1, python_layers=False, exec_style="verif") as pool:
        result = pool.check(constant, "instruction", "abcd")
    assert result.passed is None and "NameError: name 'LIMIT'" in result.error


def test_host_call_arguments_travel_as_json_by_position_and_by_name():
    seen = []

    def llm_judge(*args, **kwargs):
        seen.append((args, kwargs))
        return "\ud800 lone"

    judged = code(
        """
        answer = llm_judge(instruction, [response, "x"], {"k": (1, 2)}, criteria="\\ud800", n=None)
        return answer == "\\ud800 lone"
        """,
        "from llm_call import llm_judge",
    )
    with SandboxPool(workers=1, host_functions={"llm_judge": llm_judge}) as pool:
        result = pool.check(judged, "instruction", "resp")
    assert result.passed is True, result.error
    assert seen == [(("instruction", ["resp", "x"], {"k": [1, 2]}), {"criteria": "\ud800", "n": None})]


@pytest.mark.parametrize(
    "raised,caught",
    [
        ("AttributeError(\"'NoneType' object has no attribute 'strip'\")", "AttributeError"),
        ("IndexError('string index out of range')", "IndexError"),
        ("KeyError('choices')", "KeyError"),
        ("UnicodeEncodeError('utf-8', 'x', 0, 1, 'surrogates not allowed')", "UnicodeEncodeError"),
    ],
)
def test_a_builtin_exception_from_a_host_function_reaches_rule_code_as_itself(raised, caught):
    def llm_extract(*args):
        raise eval(raised)

    catching = code(
        f"""
        try:
            llm_extract(instruction, response, "q")
        except {caught} as err:
            return str(err) == str({raised})
        return False""",
        "from llm_call import llm_extract",
    )
    with SandboxPool(workers=1, host_functions={"llm_extract": llm_extract}) as pool:
        result = pool.check(catching, "instruction", "x")
    assert result.passed is True, result.error


def test_a_host_function_that_raises_baseexception_does_not_hang_the_batch():
    def llm_extract(*args):
        raise KeyboardInterrupt

    with SandboxPool(workers=1, host_functions={"llm_extract": llm_extract}) as pool:
        result = pool.check(JUDGE_CALLS, "instruction", "x")
    assert result.passed is None and "KeyboardInterrupt" in result.error


def test_verif_style_globals_are_exactly_the_originals():
    # VerIF's execute_code: globals are {} plus the replayed imports (exec adds the real builtins), so __name__
    # resolves to the builtins module's; check_following itself lands in the separate locals.
    probe = code(
        "return sorted(k for k in globals() if k != '__builtins__') == ['re'] and __name__ == 'builtins'", "import re"
    )
    with SandboxPool(workers=1, python_layers=False, exec_style="verif") as pool:
        result = pool.check(probe, "instruction", "x")
    assert result.passed is True, result.error


def test_the_reference_llm_call_module_resolves_names_as_the_original_module_does():
    """Rule code may rebind `llm_call.generate_chat`, `extract_score` or `prompt_template`; the original's
    functions then use the new value (global lookup). A second outside reviewer found all three ignored; and
    argument errors must name `llm_score()`, as the original's do."""
    from verif_nb.sandbox._llm_call import original_module

    name = ["n", "prompt_template", None]
    spec = {
        "score": ["f", [["s", "C:"], ["v", ["n", "checkers", None], -1, None], name]],
        "score_max_tokens": 9,
        "extract": None,
        "extract_max_tokens": None,
        "judge": None,
        "chat": [128, 0.0],
        "constants": {"prompt_template": "T"},
    }
    sent = []
    module = original_module(spec, lambda call, args, kwargs: sent.append(args[0][0]["content"]) or "[[1]]")
    assert (module.llm_score("i", "r", ("c",)), sent) == (1, ["C:('c',)T"])
    module.prompt_template = "X"
    assert (module.llm_score("i", "r", "c"), sent[-1]) == (1, "C:cX")
    module.extract_score = lambda text: 7
    assert module.llm_score("i", "r", "c") == 7
    module.generate_chat = lambda *args, **kwargs: "[[0]] [[1]]"
    del module.extract_score  # as if never rebound: the module's own again
    module.extract_score = original_module(spec, None).extract_score
    asked = len(sent)
    assert module.llm_score("i", "r", "c") == 0 and len(sent) == asked  # the rebound generate_chat, no judge call
    with pytest.raises(TypeError, match=r"^llm_score\(\) missing 2 required positional arguments"):
        module.llm_score("i")
    assert module.llm_score.__qualname__ == "llm_score"
