"""Hostile check_following code: every attack must give passed=None with a meaningful error, its side
effect must not happen, and the pool must answer correctly afterwards.

Each attack runs twice: against the normal pool ("screened": the static screen rejects most code before it
runs) and against a pool whose workers skip the static screen ("unscreened", a test-only switch), with an
escape through ``().__class__.__base__.__subclasses__()`` to the ``os`` module, to show that the layers
behind the screen (restricted builtins and imports, read-only modules, audit hook, resource limits,
watchdog) hold on their own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from verif_nb.sandbox import SandboxPool

SECRET_NAME, SECRET_VALUE = "VERIF_NB_TEST_SECRET", "s3cr3t-do-not-leak"
# From any object to the globals of the os module: the classic pure-Python sandbox escape.
OS_GLOBALS = (
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"
)
REAL_BUILTINS = f"{OS_GLOBALS}['sys'].modules['builtins']"
PROBE = "def check_following(instruction, response):\n    return len(response.split()) == 2\n"


def check(body: str, head: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{head}\ndef check_following(instruction, response):\n{body}\n"


@pytest.fixture(scope="module", autouse=True)
def parent_secret():
    os.environ[SECRET_NAME] = SECRET_VALUE  # set before any worker starts
    yield
    os.environ.pop(SECRET_NAME, None)


@pytest.fixture(scope="module", params=["screened", "unscreened"])
def pool(request, parent_secret):
    with SandboxPool(
        workers=1, timeout_s=0.5, memory_mb=256, _static_screen=request.param == "screened"
    ) as attack_pool:
        attack_pool.mode = request.param
        yield attack_pool


@pytest.fixture()
def marker(tmp_path) -> Path:
    return tmp_path / "pwned"


def assert_contained(pool, code: str, *error_fragments: str, response: str = "two words"):
    """Runs an attack; checks it failed with a reason, and that the pool still answers correctly."""
    result = pool.check(code, "instruction", response)
    assert result.passed is None, result
    assert result.error, result
    if error_fragments:
        assert any(fragment in result.error for fragment in error_fragments), result.error
    assert pool.check(PROBE, "instruction", "two words").passed is True
    assert pool.check(PROBE, "instruction", "three words here").passed is False
    return result


# (id, direct attack, the same through the escape, error expected of the direct one when screened,
#  error expected of the escape when unscreened: the layer that stopped it)
SIDE_EFFECT_ATTACKS = [
    (
        "write_file",
        check("open(MARKER, 'w').write('x')"),
        check(f"{REAL_BUILTINS}.open(MARKER, 'w').write('x')"),
        ["builtin 'open' is not available"],
        ["sandbox: writing files is not allowed"],
    ),
    (
        "os_system",
        check("os.system('touch ' + MARKER)", "import os"),
        check(f"{OS_GLOBALS}['system']('touch ' + MARKER)"),
        ["import of 'os' is not allowed"],
        ["sandbox: os.system is not allowed"],
    ),
    (
        "subprocess",
        check("subprocess.run(['touch', MARKER])", "import subprocess"),
        check(f"{REAL_BUILTINS}.__import__('subprocess').run(['touch', MARKER])"),
        ["import of 'subprocess' is not allowed"],
        ["import of 'subprocess' is not allowed", "sandbox: subprocess.Popen is not allowed"],
    ),
    (
        "dunder_import",
        check("__import__('os').system('touch ' + MARKER)"),
        check("__import__('os').system('touch ' + MARKER)"),
        ["use of '__import__' is not allowed"],
        ["import of 'os' is not allowed"],
    ),
    (
        "subclasses_escape",
        check(f"{OS_GLOBALS}['system']('touch ' + MARKER)"),
        check(f"{OS_GLOBALS}['system']('touch ' + MARKER)"),
        ["access to attribute '__class__' is not allowed"],
        ["sandbox: os.system is not allowed"],
    ),
    (
        "fork",
        check(
            """
        pid = os.fork()
        if pid == 0:
            open(MARKER, 'w').close()
        return pid""",
            "import os",
        ),
        check(f"""
        g = {OS_GLOBALS}
        pid = g['fork']()
        if pid == 0:
            g['system']('touch ' + MARKER)
        return pid"""),
        ["import of 'os' is not allowed"],
        ["sandbox: os.fork is not allowed"],
    ),
    (
        "file_write_through_allowed_module",
        check("ET.ElementTree(ET.fromstring('<a/>')).write(MARKER)", "import xml.etree.ElementTree as ET"),
        check("ET.ElementTree(ET.fromstring('<a/>')).write(MARKER)", "import xml.etree.ElementTree as ET"),
        ["writing files is not allowed"],
        ["writing files is not allowed"],
    ),
]


@pytest.mark.parametrize(
    "name,direct,escaped,screened_error,escape_error", SIDE_EFFECT_ATTACKS, ids=[a[0] for a in SIDE_EFFECT_ATTACKS]
)
def test_side_effect_attacks_are_contained(pool, marker, name, direct, escaped, screened_error, escape_error):
    runs = [(direct, screened_error)] if pool.mode == "screened" else [(direct, []), (escaped, escape_error)]
    for code, expected in runs:
        code = code.replace("MARKER", repr(str(marker)))
        assert_contained(pool, code, *expected)
        time.sleep(0.05)  # let a (wrongly) spawned process finish before looking
        assert not marker.exists(), f"{name}: side effect happened"


def test_environment_secret_never_reaches_a_check(pool):
    codes = [
        check("raise ValueError(dict(os.environ))", "import os"),
        check("return '{0.__init__.__globals__}'.format(response)"),
    ]
    if pool.mode == "unscreened":
        codes.append(check(f"raise ValueError(dict({OS_GLOBALS}['environ']))"))
    for code in codes:
        result = assert_contained(pool, code)
        assert SECRET_VALUE not in result.error and SECRET_NAME not in result.error
    for pid in pool.pids():
        assert SECRET_NAME not in psutil.Process(pid).environ()  # the workers start with an empty environment


def test_sockets_cannot_connect(pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        attacks = [
            check(f"socket.create_connection(('127.0.0.1', {port}))", "import socket"),
            check(f"urllib.request.urlopen('http://127.0.0.1:{port}/')", "import urllib.parse"),
        ]
        if pool.mode == "unscreened":
            attacks.append(check(f"{REAL_BUILTINS}.__import__('socket').create_connection(('127.0.0.1', {port}))"))
        for code in attacks:
            assert_contained(
                pool,
                code,
                "import of 'socket' is not allowed",
                "import of 'urllib.request'",
                "access to module 'urllib.request'",
                "ImportError",
                "sandbox: socket.",  # the real import (unscreened): the module is loaded, its calls are refused
            )
        time.sleep(0.05)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_infinite_loops_time_out(pool):
    started = time.monotonic()
    assert_contained(pool, check("while True:\n    pass"), "timed out after 0.5 s")
    # A loop that swallows the alarm exception, and a single C call the alarm cannot interrupt.
    assert_contained(
        pool,
        check("while True:\n    try:\n        while True:\n            x = 1\n    except BaseException:\n        pass"),
        "timed out after 0.5 s",
    )
    assert_contained(pool, check("return sum(range(10 ** 14))"), "timed out after 0.5 s (check process killed)")
    assert time.monotonic() - started < 20  # bounded by timeout + grace per attack, never a hang


@pytest.mark.parametrize(
    "bomb", ["'x' * (10 ** 10)", "[0] * (10 ** 10)", "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 8))"]
)
def test_memory_bombs_hit_the_limit(pool, bomb):
    before = psutil.Process().memory_info().rss
    assert_contained(pool, check(bomb if "\n" in bomb else "return " + bomb), "MemoryError (memory limit 256 MB)")
    assert psutil.Process().memory_info().rss - before < 100 * 2**20  # the caller never held the bomb


def test_exit_attempts_are_contained(pool):
    attacks = [
        (check("sys.exit(0)", "import sys"), "import of 'sys' is not allowed"),
        (check("exit()"), "builtin 'exit' is not available", "NameError"),
        (check("raise SystemExit(0)"), "check_following raised SystemExit"),
        (check("raise KeyboardInterrupt"), "check_following raised KeyboardInterrupt"),
    ]
    if pool.mode == "unscreened":
        attacks.append((check(f"{OS_GLOBALS}['_exit'](0)"), "check process exited early (exit code 0)"))
    for code, *expected in attacks:
        assert_contained(pool, code, *expected)


def test_runaway_recursion(pool):
    assert_contained(pool, check("return check_following(instruction, response)"), "RecursionError")


def test_printing_gigabytes_goes_nowhere(pool, capfd):
    assert_contained(pool, check("for _ in range(10 ** 6):\n    print('x' * 10 ** 6)"), "timed out after 0.5 s")
    out, err = capfd.readouterr()
    assert "xxxx" not in out and "xxxx" not in err


def test_patched_builtins_do_not_leak_into_the_next_check(pool):
    uses_len = check(
        "return textwrap.wrap('aaa bbb', width=3) == ['aaa', 'bbb'] and len('abc') == 3", "import textwrap"
    )
    assert pool.check(uses_len, "instruction", "x").passed is True
    patches = [
        check("builtins.len = lambda x: 42\nreturn True", "import builtins"),
        check("__builtins__['len'] = lambda x: 42\nreturn True"),
    ]
    if pool.mode == "unscreened":
        patches.append(check(f"{REAL_BUILTINS}.len = lambda x: 42\nreturn True"))
        patches.append(check("__builtins__['len'] = lambda x: 42\nreturn True"))
    for patch in patches:
        result = pool.check(patch, "instruction", "x")
        if pool.mode == "screened":
            assert result.passed is None and result.error
        assert pool.check(uses_len, "instruction", "x").passed is True
    # Re-programming an allowed module is refused too.
    assert_contained(
        pool,
        check("re.findall = lambda *a: []\nreturn True", "import re"),
        "assigning attributes of shared objects is not allowed",
        "read-only in the sandbox",
    )


def test_dunder_attribute_by_string_is_refused(pool):
    assert_contained(
        pool, check("return getattr((), '__cla' + 'ss__')"), "access to attribute '__class__' is not allowed"
    )


KILL_PARENT_SCRIPT = """
import json, os, sys
from verif_nb.sandbox import SandboxPool
escape = sys.argv[1]
codes = [
    "import os\\ndef check_following(instruction, response):\\n    os.kill(os.getppid(), 9)\\n",
    "import signal\\ndef check_following(instruction, response):\\n    signal.raise_signal(9)\\n",
    "def check_following(instruction, response):\\n    g = " + escape + "\\n    g['kill'](g['getppid'](), 9)\\n",
]
out = []
for screen in (True, False):
    with SandboxPool(workers=1, timeout_s=0.5, _static_screen=screen) as pool:
        for code in codes:
            r = pool.check(code, "instruction", "x")
            out.append([r.passed, r.error])
        out.append([pool.check("def check_following(i, r):\\n    return True\\n", "instruction", "x").passed, None])
print(json.dumps(out))
"""


def test_killing_the_parent_is_contained():
    # Runs in a sacrificial process: if a layer failed, that process dies, not the test run.
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, "-c", KILL_PARENT_SCRIPT, OS_GLOBALS], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    attacks = [r for r in results if r[1] is not None]
    assert len(attacks) == 6 and all(passed is None for passed, _ in attacks)
    assert [r[0] for r in results if r[1] is None] == [True, True]
    errors = " | ".join(error for _, error in attacks)
    assert "import of 'os' is not allowed" in errors and "os.kill is not allowed" in errors
