"""The sandbox is fair and bounded (issue 19, classes 1-6): one test or more per class, written from the issue's
descriptions. A row may lie about its own verdict; it may not cost another row its verdict, the caller its memory
or time, nor reach what lies outside the Python installation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from verif_nb.sandbox import CheckTask, SandboxPool, validate_code

ROOT = Path(__file__).resolve().parents[1]


def code(body: str, head: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{head}\ndef check_following(instruction, response):\n{body}\n"


def honest(n: int) -> list[tuple[CheckTask, bool]]:
    """Distinct functions (one child each) with known verdicts."""
    return [
        (CheckTask(code(f"return len(response) == {i % 3}  # {i}"), "instruction", "x"), i % 3 == 1) for i in range(n)
    ]


def assert_honest(results, expected) -> None:
    assert [r.passed for r in results] == expected, [r.error for r in results]


def tree(pool: SandboxPool) -> list[psutil.Process]:
    processes = []
    for pid in pool.pids():
        try:
            root = psutil.Process(pid)
            processes += [root, *root.children(recursive=True)]
        except psutil.Error:
            pass
    return processes


def zygotes(pool: SandboxPool) -> list[psutil.Process]:
    """The worker processes that fork the children (bubblewrap, when used, sits above them)."""

    def is_worker(process: psutil.Process) -> bool:
        argv = process.cmdline()
        return bool(argv) and "_worker.py" in " ".join(argv) and "bwrap" not in os.path.basename(argv[0])

    found = []
    for process in tree(pool):
        try:
            if is_worker(process) and not is_worker(process.parent()):
                found.append(process)
        except psutil.Error:
            pass
    return found


def children_cpu(pool: SandboxPool) -> float:
    """CPU seconds of every child the zygotes have forked so far: those they reaped, and those still alive."""
    total = 0.0
    for zygote in zygotes(pool):
        try:
            live = zygote.children()
            for child in live:
                times = child.cpu_times()
                total += times.user + times.system
            times = zygote.cpu_times()
            total += times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


# -- class 1: paths that evaluate a string ----------------------------------------------------------------------
# Each returns True only if it reached the real builtins (the interpreter's own ``open``).
SINGLEDISPATCH = code(
    """
    class Holder:
        x: "open"
    try:
        functools.singledispatch(lambda a: 0).register(Holder())  # get_type_hints on an object without globals
    except TypeError as err:
        return "built-in function open" in str(err)
    return False""",
    "import functools",
)
FORWARD_REF = code(
    """
    class Holder:
        x: typing.List["open"]
    try:
        functools.singledispatch(lambda a: 0).register(Holder())
    except TypeError as err:
        return "built-in function open" in str(err)
    return False""",
    "import functools, typing",
)
DATACLASS_FIELDS = code(
    """
    class Made:
        b: int
    Made.__annotations__["a=open"] = int  # a field name that is not a name, pasted into generated source
    dataclasses.dataclass(Made)
    return True""",
    "import dataclasses",
)
CLASS_NAMESPACE_FROM_DATA = code(
    """
    Made = type("Made", (), {"__annotations__": {"a=open": int, "b": int}, "__match_args__": ("__class__",)})
    dataclasses.dataclass(Made)
    return True""",
    "import dataclasses",
)
METACLASS_FROM_A_MODULE = code(
    """
    Made = numbers.ABCMeta("Made", (), {"__match_args__": ("__class__",)})
    match response:
        case Made(found):
            return found is str
    return False""",
    "import numbers",
)
GLOBAL_ENUM = code(
    """
    members = enum.Enum("Members", {"any": 1}, module="builtins")
    enum.global_enum(members)
    return True""",
    "import enum",
)
UPDATE_WRAPPER = code(
    """
    stash = {}
    holder = type("Holder", (), {})()
    functools.update_wrapper(holder, check_following, assigned=("__globals__",), updated=())
    return "open" in str(holder)""",
    "import functools",
)
DATACLASS_STR_SUBCLASS = code(
    """
    class Name(str):
        def __str__(self):
            return "a=open"
    Made = type("Made", (), {"__annotations__": {Name("a"): int}})
    dataclasses.dataclass(Made)
    return True""",
    "import dataclasses",
)
FORMATTER = code(
    """
    return "class" in string.Formatter().vformat("{0.__class__}", [response], {})""",
    "import string",
)
ATTRGETTER = code("return operator.attrgetter('__class__')(response) is str", "import operator")
STRING_GADGETS = {
    "singledispatch_type_hints": SINGLEDISPATCH,
    "typing_forward_ref": FORWARD_REF,
    "dataclass_field_names": DATACLASS_FIELDS,
    "dataclass_str_subclass_names": DATACLASS_STR_SUBCLASS,
    "class_namespace_from_data": CLASS_NAMESPACE_FROM_DATA,
    "metaclass_from_a_module": METACLASS_FROM_A_MODULE,
    "global_enum_writes_builtins": GLOBAL_ENUM,
    "update_wrapper_names_from_data": UPDATE_WRAPPER,
    "formatter_field_lookup": FORMATTER,
    "attrgetter_dunder": ATTRGETTER,
}


def test_class1_the_gadgets_are_real_without_the_python_layers():
    """Control: with the code run as written, the string paths do reach the real builtins."""
    with SandboxPool(workers=1, python_layers=False) as bare:
        results = bare.check_batch([CheckTask(c, "instruction", "x") for c in (SINGLEDISPATCH, FORWARD_REF)])
    assert [r.passed for r in results] == [True, True], [r.error for r in results]


@pytest.mark.parametrize("kernel", [True, False], ids=["all_layers", "python_layers_alone"])
def test_class1_no_string_path_gives_dataset_code_the_real_builtins(kernel, tmp_path):
    """With the Python layers on, every gadget fails; with the kernel layers off too, the Python layers close
    the class on their own (the message names the layer), so no side effect can follow."""
    kernel_off = {} if kernel else {"_seccomp": False, "namespaces": False, "allow_unsandboxed": True}
    names = list(STRING_GADGETS)
    for screened in (True, False):  # the runtime layers hold where the static screen lets code through
        with SandboxPool(workers=1, _static_screen=screened, **kernel_off) as pool:
            results = pool.check_batch([CheckTask(STRING_GADGETS[n], "instruction", "x") for n in names])
        for name, result in zip(names, results):
            assert result.passed is not True, (name, screened)
            assert result.error and "not allowed" in result.error, (name, screened, result.error)
            if not screened and name in ("singledispatch_type_hints", "typing_forward_ref", "dataclass_field_names"):
                assert "turning a string into code is not allowed" in result.error, (name, result.error)


def test_class1_ordinary_code_generation_still_works():
    """The generators that check what they paste (namedtuple) or are given plain names (dataclasses) work."""
    generated = code(
        """
        Point = collections.namedtuple("Point", "x y")
        @dataclasses.dataclass
        class Box:
            width: int
            label: str = "b"
        Colour = enum.Enum("Colour", "red green")
        return Point(1, 2).y == 2 and Box(3).label == "b" and Colour.red.name == "red" """,
        "import collections, dataclasses, enum",
    )
    with SandboxPool(workers=1) as pool:
        result = pool.check(generated, "instruction", "x")
    assert result.passed is True, result.error


# -- class 2: a row that has reported keeps no CPU ----------------------------------------------------------
def test_class2_rows_that_report_then_spin_get_no_more_cpu_and_cost_no_one_a_verdict():
    cores = os.cpu_count() or 2
    spinners = [
        code(
            f"""
            os.write(3, bytes([2]) + (0).to_bytes(4, "big") + bytes([1]) + bytes(4) + bytes(2))  # 'True', sent early
            while True:  # {i}
                pass""",
            "import os",
        )
        for i in range(4 * cores)
    ]
    # Honest rows that keep the batch open for a second (the time a spinner would have to spin).
    work = "time.sleep(1.0)\nreturn sum(range(200_000)) > 0 and len(response) == {n}  # {i}"
    honest_rows = [(code(work.format(n=i % 2, i=i), "import time"), i % 2 == 1) for i in range(2 * cores)]
    with SandboxPool(workers=1, timeout_s=3, python_layers=False, parallel=4) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        time.sleep(1.0)
        before = children_cpu(pool)
        alone = pool.check_batch([CheckTask(c.replace("# ", "# alone "), "instruction", "x") for c, _ in honest_rows])
        time.sleep(1.0)
        honest_cpu = children_cpu(pool) - before
        assert_honest(alone, [e for _, e in honest_rows])
        tasks = [CheckTask(s, "instruction", "x") for s in spinners] + [CheckTask(c, "i", "x") for c, _ in honest_rows]
        before = children_cpu(pool)
        results = pool.check_batch(tasks)
        time.sleep(1.0)
        spent = children_cpu(pool) - before
    assert [r.passed for r in results[: len(spinners)]] == [True] * len(spinners)  # their own lie, nothing more
    assert_honest(results[len(spinners) :], [e for _, e in honest_rows])
    # Each spinner got the CPU of the moment between its report and the parent reading it: milliseconds.
    print(f"spinners' CPU: {spent - honest_cpu:.2f} s (honest rows alone {honest_cpu:.2f} s)")
    assert spent - honest_cpu < 0.1 * len(spinners), (spent, honest_cpu)


# -- class 3: the pool's memory is bounded ----------------------------------------------------------------
def peak_rss(pool: SandboxPool, action):
    """(result of ``action``, peak resident memory of the pool's process tree while it ran, in bytes)."""
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            total = 0
            for process in tree(pool):
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        return action(), peak[0]
    finally:
        stop.set()
        sampler.join()


def test_class3_rows_that_allocate_and_answer_at_once_never_hold_memory_together():
    # Each keeps its 400 MB after answering (a module-level list outlives the check).
    hogs = ["KEPT = []\n" + code(f"KEPT.append(bytearray(400 * 2**20))\nreturn True  # {i}") for i in range(8)]
    rows = honest(8)
    with SandboxPool(workers=1, parallel=4, memory_mb=512, timeout_s=5) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        time.sleep(1.0)
        own = sum(p.memory_info().rss for p in tree(pool))
        tasks = [CheckTask(h, "instruction", "x") for h in hogs] + [task for task, _ in rows]
        results, peak = peak_rss(pool, lambda: pool.check_batch(tasks))
    bound = pool.parallel * pool.memory_mb * 2**20 + own
    assert peak <= bound, f"peak {peak / 2**20:.0f} MB > bound {bound / 2**20:.0f} MB"
    assert [r.passed for r in results[:8]] == [True] * 8, [r.error for r in results[:8]]
    assert_honest(results[8:], [e for _, e in rows])
    assert pool.isolation["limits"]["children_memory_bound_mb"] >= pool.parallel * pool.memory_mb


# -- class 4: a slow host call stalls no one -------------------------------------------------------------
@pytest.mark.parametrize("workers,parallel", [(1, 1), (2, 2)])
def test_class4_a_slow_host_call_changes_no_verdict(workers, parallel):
    def llm_extract(instruction, response, request):
        time.sleep(4)
        return "yes"

    slow = code("return llm_extract(instruction, response, 'q') == 'yes'", "from llm_call import llm_extract")
    rows = honest(10)
    with SandboxPool(
        workers=workers, parallel=parallel, timeout_s=2, host_functions={"llm_extract": llm_extract}
    ) as pool:
        results = pool.check_batch([CheckTask(slow, "instruction", "x")] + [task for task, _ in rows])
    assert results[0].passed is True, results[0].error  # not timed out for the call's 4 s
    assert_honest(results[1:], [e for _, e in rows])


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current RSS


def _peak_rss() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_class4_a_rows_host_call_arguments_do_not_accumulate_in_the_caller():
    """A row of 40 functions, each making 8 host calls with ~0.9 MB arguments: the batch's memo once kept every
    argument as its key, and the caller grew with the row (1.6 GB at 160 functions, an outside reviewer's case)."""
    calls = []

    def llm_extract(instruction, response, request):
        calls.append(len(request))
        return "ok"

    big = code(
        """
        for k in range(8):
            llm_extract(instruction, response, 'x' * 900_000 + str(k) + MARK)
        return True
        """,
        "from llm_call import llm_extract",
    )
    rows = honest(6)
    tasks = [CheckTask(big.replace("MARK", repr(f"f{f}")), "instruction", "x") for f in range(40)]
    with SandboxPool(workers=1, timeout_s=10, host_functions={"llm_extract": llm_extract}) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        rss = psutil.Process().memory_info().rss
        _reset_peak_rss()
        results = pool.check_batch(tasks + [task for task, _ in rows])
        grew = _peak_rss() - rss
    assert [r.passed for r in results[:40]] == [True] * 40, [r.error for r in results[:40]]
    assert_honest(results[40:], [e for _, e in rows])
    assert len(calls) == 320
    assert grew < 120 * 2**20, f"the caller's peak grew by {grew / 2**20:.0f} MB for 320 calls of 0.9 MB"


# -- class 5: parsing untrusted code is bounded ---------------------------------------------------------------
def huge_function(chars: int) -> str:
    lines = "".join(f"    x{i} = f'{{response}}{{instruction}}{i}'\n" for i in range(chars // 34))
    return "def check_following(instruction, response):\n" + lines + "    return True\n"


def test_class5_a_huge_function_costs_the_caller_neither_time_nor_memory():
    me = psutil.Process()
    rows = honest(6)
    with SandboxPool(workers=1, timeout_s=2) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        for chars in (1_500_000, 3_000_000):
            big = huge_function(chars)
            rss, cpu, started = me.memory_info().rss, time.process_time(), time.monotonic()
            results = pool.check_batch([CheckTask(big, "instruction", "x")] + [task for task, _ in rows])
            grew, spent, waited = me.memory_info().rss - rss, time.process_time() - cpu, time.monotonic() - started
            assert grew < 100 * 2**20, f"the caller grew by {grew / 2**20:.0f} MB for a {chars:,}-character function"
            assert spent < 2.0 and waited < 15, (chars, spent, waited)
            assert_honest(results[1:], [e for _, e in rows])
            # its own verdict (True: it finished within its child's limits on a fast machine) or its own error
            assert results[0].passed is True or (results[0].passed is None and results[0].error), results[0]


def test_class5_the_static_screen_is_bounded_in_the_caller_too():
    me = psutil.Process()
    medium, big = huge_function(60_000).replace("return True", "return open"), huge_function(1_500_000)
    rss, started = me.memory_info().rss, time.monotonic()
    assert "builtin 'open' is not available" in validate_code(medium)  # screened by the helper process
    assert "longer than" in validate_code(big)  # refused unread
    assert me.memory_info().rss - rss < 50 * 2**20
    assert time.monotonic() - started < 10


# -- class 6: the read-only view does not depend on how the process starts ----------------------------------
READ_CWD = """
import json, sys
from verif_nb.sandbox import SandboxPool
secret = sys.argv[1]
reader = (
    "import os\\n"
    "def check_following(instruction, response):\\n"
    f"    for path in ({secret!r}, 'secret.txt', os.path.join(os.getcwd(), 'secret.txt')):\\n"
    "        try:\\n"
    "            if 'TOPSECRET' in open(path).read():\\n"
    "                return True\\n"
    "        except OSError:\\n"
    "            pass\\n"
    f"    return 'secret.txt' in str(os.listdir(os.path.dirname({secret!r})) if os.path.exists({secret!r}) else '')\\n"
)
with SandboxPool(workers=1, python_layers=False) as pool:
    result = pool.check(reader, "instruction", "x")
print(json.dumps([sys.path[0], result.passed, result.error]))
"""


@pytest.mark.parametrize("start", ["-c", "-m"])
def test_class6_a_row_cannot_read_the_callers_working_directory(tmp_path, start):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    for path in (secret, tmp_path, tmp_path.parent, tmp_path.parent.parent):  # readable by anyone, as a project is
        path.chmod(0o755 if path.is_dir() else 0o644)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if start == "-c":  # sys.path[0] is the working directory, as with `python -m verif_nb.cli`
        argv = [sys.executable, "-c", READ_CWD, str(secret)]
    else:
        (tmp_path / "read_cwd.py").write_text(READ_CWD)
        argv = [sys.executable, "-m", "read_cwd", str(secret)]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    first_path, passed, error = json.loads(done.stdout.splitlines()[-1])
    assert first_path in ("", str(tmp_path))  # the working directory is on the caller's sys.path
    assert passed is False, error


def test_class6_the_cli_run_from_a_secret_folder_leaks_nothing(tmp_path):
    (tmp_path / "secret.xml").write_text("<s>TOPSECRET</s>")
    for path in (tmp_path / "secret.xml", tmp_path, tmp_path.parent, tmp_path.parent.parent):
        path.chmod(0o755 if path.is_dir() else 0o644)
    rule = code(
        f"""
        try:
            return "TOPSECRET" in ET.tostring(ET.parse({str(tmp_path / "secret.xml")!r}).getroot()).decode()
        except Exception:
            return "TOPSECRET" in ET.tostring(ET.parse("secret.xml").getroot()).decode()""",
        "import xml.etree.ElementTree as ET",
    )
    data, responses, out = tmp_path / "data.jsonl", tmp_path / "responses.jsonl", tmp_path / "out.jsonl"
    data.write_text(json.dumps({"id": "r", "prompt": "p", "checkers": ["[rule] leak"], "functions": [rule]}) + "\n")
    responses.write_text(json.dumps({"id": "r", "response": "x"}) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "verif_nb.cli", "verify", "--data", str(data), "--responses", str(responses)]
        + ["--mode", "rule", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(out.read_text().splitlines()[0])
    assert row["constraints"][0]["passed"] is None, row


# -- attacks on this branch's own changes ----------------------------------------------------------------------
def test_a_child_cannot_run_on_while_its_host_call_is_answered():
    """The clock pauses during a host call, so a child that asks and then goes on computing instead of waiting
    would get free time: it is stopped while the call runs, and its clock resumes when the answer is sent."""
    asked = threading.Event()

    def llm_extract(*args):
        asked.set()
        time.sleep(5.0)
        return "x"

    sneaky = code(
        """
        call = json.dumps(["llm_extract", [instruction, response, "q"], {}]).encode()
        os.write(3, bytes([3]) + len(call).to_bytes(4, "big") + call)  # ask, then do not wait for the answer
        while True:
            pass""",
        "import json, os",
    )
    with SandboxPool(
        workers=1, timeout_s=1.0, python_layers=False, host_functions={"llm_extract": llm_extract}
    ) as pool:
        pool.check("def check_following(i, r):\n    return True", "instruction", "x")
        time.sleep(1.0)
        before = children_cpu(pool)
        result = pool.check(sneaky, "instruction", "x")
        time.sleep(1.0)
        spent = children_cpu(pool) - before
    assert asked.is_set()
    assert result.passed is None and "timed out" in result.error, result.error
    # 1 s + 0.5 s of grace once the answer came; 5 s more had it run on while the host call was answered
    assert spent < 3.5, spent


def test_finished_children_leave_the_loops_watch_list():
    """Regression: a closed child socket stayed in the epoll set and woke the loop with EPOLLHUP forever after."""
    with SandboxPool(workers=2, spares=4) as pool:
        results = pool.check_batch([task for task, _ in honest(40)])
        assert all(r.passed is not None for r in results)
        engine = pool._engine
        time.sleep(0.5)
        info = Path(f"/proc/self/fdinfo/{engine.epoll.fileno()}").read_text()
        watched = sum(1 for line in info.splitlines() if line.startswith("tfd:"))
    assert watched <= pool.workers + 1, info  # the wake-up pipe and each worker's channel
