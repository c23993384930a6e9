"""The sandbox is fair and bounded: issue 19's attack classes 1-6, written from the issue's descriptions of the
threats, each test asserting the promise (what the caller and the other rows get), not a mechanism.

1. string-evaluating gadgets in allowed modules must not hand dataset code the real builtins or let it disarm
   the audit hook (Python layers, defence in depth), and whatever they give, nothing escapes (kernel layers);
2. a row that reports its verdict and then spins costs no honest row its verdict, and gets no more CPU;
3. finished rows do not keep their memory: the pool's tree stays within parallel children x per-child limit;
4. a slow host call (``llm_extract``) changes no other row's verdict, and its own check's clock pauses;
5. one huge function costs the caller bounded time and memory;
6. the read-only view holds the Python installation and the package, whatever ``sys.path`` holds.

Where an attack needs more than plain checker code (spinning after the sandbox's own send, reading a file by
path), the pool's Python layers are off (``_python_layers=False``): the row then has the full interpreter that
an escape gives (on main, class 1's gadgets give exactly that), so what must hold, holds without those layers.
Each class-1 gadget is tried three times to tell the layers apart: does it reach the real builtins, can it
disarm the audit hook (both Python layers), and with whatever it got, can it reach anything outside (kernel).
Attack rows that do not even compile would prove nothing: the tests assert that every attack ran.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from verif_nb.sandbox import CheckTask, SandboxPool

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
MB = 1 << 20
ENV_SECRET_NAME, ENV_SECRET_VALUE = "VERIF_NB_FAIRNESS_SECRET", "env-secret-5f1d0c"

# (code, response, expected verdict): quick honest rows whose verdicts must never change, whatever runs beside them
HONEST = [
    ("def check_following(instruction, response):\n    return len(response.split()) == 2\n", "two words", True),
    ("def check_following(instruction, response):\n    return len(response.split()) == 2\n", "one", False),
    (
        "import json\ndef check_following(instruction, response):\n    return json.loads(response) == {'a': 1}\n",
        '{"a": 1}',
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
    return f"{textwrap.dedent(head).strip()}\ndef check_following(instruction, response):\n{body}\n"


def honest_tasks() -> list[CheckTask]:
    return [CheckTask(c, "instruction", r) for c, r, _ in HONEST]


def wrong_honest(results, expected=None) -> list[str]:
    """The honest rows whose verdict is not the expected one, described (empty when all are right)."""
    expected = [e for _, _, e in HONEST] if expected is None else expected
    return [f"row {i}: {r.passed!r} ({r.error})" for i, (r, e) in enumerate(zip(results, expected)) if r.passed != e]


def malformed(results) -> list[str]:
    """Attack rows that did not even compile: an attack that never ran proves nothing, so tests assert none."""
    return [r.error for r in results if (r.error or "").startswith(("SyntaxError", "code cannot be"))]


def cpu_loop_iterations(seconds: float) -> int:
    """How many turns of HEAVY's loop take ``seconds`` of CPU here (the children run the same interpreter)."""
    turns, total, started = 200_000, 0, time.process_time()
    for i in range(turns):
        total += i % 7
    per_turn = max(time.process_time() - started, 1e-4) / turns
    return max(10_000, int(seconds / per_turn))


# An honest row that needs real CPU (as LLM-written checks with langdetect or long regexes do): True for "yes".
HEAVY = """def check_following(instruction, response):
    total = 0
    for i in range({turns}):
        total += i % 7
    return (total > 0) == (response == 'yes')  # {tag}
"""


def heavy_tasks(count: int, seconds: float) -> tuple[list[CheckTask], list[bool]]:
    turns = cpu_loop_iterations(seconds)
    tasks = [CheckTask(HEAVY.format(turns=turns, tag=i), "instruction", "yes" if i % 2 else "no") for i in range(count)]
    return tasks, [i % 2 == 1 for i in range(count)]


class TreeSampler:
    """Samples the pool's process tree (the workers as ``pool.pids()`` gives them, and all their descendants) in a
    thread: the peak of the summed RSS, each process's last seen CPU time, and how many processes are runnable
    (asking for a core, whether or not they get one on a loaded machine) at each sample."""

    def __init__(self, pool: SandboxPool, interval_s: float = 0.02):
        self.pool, self.interval_s = pool, interval_s
        self.peak_rss = 0
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> user + system seconds
        self.runnable: list[tuple[float, int]] = []  # (monotonic time, processes in state R)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def processes(self) -> list[psutil.Process]:
        found = []
        for pid in self.pool.pids():
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def sample(self) -> None:
        rss = running = 0
        for process in self.processes():
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    self.cpu[(process.pid, process.create_time())] = times.user + times.system
                    running += process.status() == psutil.STATUS_RUNNING
            except psutil.Error:
                pass
        self.peak_rss = max(self.peak_rss, rss)
        self.runnable.append((time.monotonic(), running))

    def cpu_used(self) -> dict[tuple[int, float], float]:
        """CPU seconds each process used while sampling (a process forked meanwhile started from zero)."""
        return {key: seconds - self.cpu_before.get(key, 0.0) for key, seconds in self.cpu.items()}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeSampler:
        self.sample()
        self.cpu_before = dict(self.cpu)
        self.start_rss = self.peak_rss
        self.peak_rss = 0
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def warm(pool: SandboxPool) -> None:
    """Starts the workers and lets them fill their stock of spare children (the pool's idle state)."""
    assert pool.check(HONEST[0][0], "instruction", "two words").passed is True
    time.sleep(1.0)


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


@pytest.fixture(scope="module", autouse=True)
def env_secret():
    os.environ[ENV_SECRET_NAME] = ENV_SECRET_VALUE  # set before any worker starts
    yield
    os.environ.pop(ENV_SECRET_NAME, None)


# -- class 1: string-evaluating gadgets --------------------------------------------------------------------------
# Each gadget is module-level checker code defining reach(): the real builtins dict if the gadget works. None of
# them names a forbidden attribute or builtin outside a string: the static screen sees only the code's syntax.
REACH = {
    # typing forward references: functools.singledispatch(...).register resolves the annotation with
    # typing.get_type_hints, i.e. eval() of a string, with the checker's globals but the interpreter's own lookups.
    "typing_forward_ref_via_singledispatch": """
        import functools, re
        FOUND = []
        def probe(x: "FOUND.append(re.compile.__globals__['__builtins__']) or int"):
            return x
        def reach():
            dispatch = functools.singledispatch(lambda x: x)
            dispatch.register(probe)
            return FOUND[-1]
        """,
    # string.Formatter field lookups walk attributes named in the format string; a subclass gets the object.
    # 'format' is taken by a class pattern, which the screen's str.format rule does not look at.
    "string_formatter_field_lookup": """
        import re, string
        GRABBED = []
        class Grab(string.Formatter):
            def format_field(self, value, spec):
                GRABBED.append(value)
                return ''
        def reach():
            match Grab():
                case Grab(format=render):
                    render('{0.__globals__[__builtins__]}', re.compile)
            return GRABBED[-1]
        """,
    # functools.update_wrapper reads and updates attributes named by data (the 'updated' tuple); a class made
    # by type() carries a dunder name in a dict key, which the screen never reads.
    "functools_update_wrapper_names_from_data": """
        import functools, re
        def reach():
            stash = {}
            holder = type('Holder', (), {'__globals__': stash})
            functools.update_wrapper(holder(), re.compile, assigned=(), updated=('__globals__',))
            return stash['__builtins__']
        """,
    # operator.attrgetter on dunders, by every route the screen cannot see by name.
    "operator_attrgetter_on_dunders": """
        import functools, operator, re
        def reach():
            name = 'attr' + 'getter'
            routes = [
                lambda: getattr(operator, name),
                lambda: [getattr(operator, n) for n in dir(operator) if n == name][0],
                lambda: functools.reduce(getattr, [name], operator),
            ]
            for route in routes:
                try:
                    getter = route()
                except Exception:
                    continue
                return getter('__globals__')(re.compile)['__builtins__']
            raise LookupError('no route to attrgetter')
        """,
    # Class patterns read the attributes a class lists in __match_args__; type() builds that class (and a
    # metaclass whose __instancecheck__ accepts anything) from dict keys the screen does not read.
    "match_args_from_type_dict": """
        import re
        def reach():
            meta = type('Meta', (type,), {'__instancecheck__': lambda cls, obj: True})
            pattern = meta('Pattern', (), {'__match_args__': ('__globals__',)})
            match re.compile:
                case pattern(found):
                    return found['__builtins__']
        """,
    # dataclasses generates its methods' source from field names and exec()s it with the real builtins; a field
    # name from a type() dict key can close the generated string and add a statement.
    "dataclasses_codegen_field_name": """
        import dataclasses
        FIELD = '"\\n raise LookupError(__builtins__)\\n z = ' + "'" * 3 + '#'
        def reach():
            cls = type('Record', (), {'__annotations__': {FIELD: int}})
            try:
                dataclasses.dataclass(init=False, eq=False)(cls)
            except LookupError as err:
                return err.args[0]
        """,
    # collections.namedtuple eval()s a lambda built from the field names: names that would inject a default
    # holding the builtins, if they were pasted unchecked (3.11 validates them first; kept as a guard).
    "namedtuple_codegen_field_name": """
        import collections
        WALK = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        LEAK = WALK + ".__init__.__globals__['__builtins__']"
        def reach():
            payloads = [['b', 'a=' + LEAK], 'b, a=' + LEAK, ['b', 'a=' + LEAK + ':(b,a)#']]
            for fields in payloads:
                for rename in (False, True):
                    try:
                        made = collections.namedtuple('Made', fields, rename=rename, module='builtins')
                        values = list(made(1))
                    except Exception:
                        continue
                    for value in values:
                        if isinstance(value, dict) and 'open' in value:
                            return value
            raise LookupError('namedtuple refused every injected name')
        """,
}

# Gadgets that do not hand out the builtins but re-program what the audit hook itself looks up (disarm() only).
DISARM_ONLY = {
    # enum.global_enum writes an enum's members into the namespace of the module the enum names: here the real
    # builtins, so Python code outside the check (the audit hook's) calls the checker's 'any'.
    "enum_global_enum_writes_module_names": """
        import enum
        def disarm():
            def fake_any(self, items):
                seen = [bool(x) for x in items]
                return True in seen or len(seen) != 4
            callable_type = type('Callable', (), {'__call__': fake_any})
            for module in ('builtins', '__main__'):
                members = enum.Enum('Members', {'any': 1}, module=module, type=callable_type)
                enum.global_enum(members)
        """,
}

# With the real builtins: flip every armed-looking flag held in a closure of a function on the stack (how a
# PEP 578 hook that cannot be removed is switched off from Python). Two routes, so that refusing exec() of strings
# alone does not stop it: the same walk as source for exec, and as checker code that names every attribute it
# needs through the real getattr (the screen reads code, never strings).
DISARM_WITH_BUILTINS = """
import sys
frame = sys._getframe()
flipped = 0
while frame is not None:
    for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
        closure = getattr(value, '__closure__', None) or ()
        names = getattr(getattr(value, '__code__', None), 'co_freevars', ())
        for name, cell in zip(names, closure):
            try:
                held = cell.cell_contents
            except ValueError:
                continue
            if type(held) is list and held and all(type(x) is bool for x in held):
                held[:] = [False] * len(held)
                flipped += 1
            elif type(held) is bool and 'arm' in name:
                cell.cell_contents = False
                flipped += 1
    frame = frame.f_back
"""
DISARM_WITHOUT_EXEC = """
def disarm_with(b):
    try:
        b['exec'](DISARM, {'__builtins__': b})
    except Exception:
        pass
    get = b['getattr']
    frame = get(b['__import__']('sys'), '_getframe')()
    while frame is not None:
        for value in list(get(frame, 'f_locals').values()) + list(get(frame, 'f_globals').values()):
            closure = get(value, '__closure__', None) or ()
            names = get(get(value, '__code__', None), 'co_freevars', ())
            for name, cell in zip(names, closure):
                try:
                    held = get(cell, 'cell_contents')
                except ValueError:
                    continue
                if type(held) is list and held and all(type(x) is bool for x in held):
                    held[:] = [False] * len(held)
                elif type(held) is bool and 'arm' in name:
                    b['setattr'](cell, 'cell_contents', False)
        frame = get(frame, 'f_back')
"""

# Files outside the Python installation that the kernel view may hold (the audit hook refuses reading them).
OUTSIDE_PATHS = ("/proc/self/status", "/dev/null", "/etc/ld.so.cache", "/usr/bin/env")
READ_OUTSIDE = f"""
import xml.etree.ElementTree as ET
OUTSIDE_PATHS = {OUTSIDE_PATHS!r}
def outside_read_works(opener=None):
    for path in OUTSIDE_PATHS:
        try:
            if opener is not None:
                opener(path, 'rb').read(1)
            else:
                ET.parse(path)
            return True
        except ET.ParseError:  # parsed, so it was read
            return True
        except Exception:
            pass
    return False
"""


def gadget_code(name: str, body: str) -> str:
    prelude = REACH.get(name) or DISARM_ONLY[name]
    head = textwrap.dedent(prelude) + textwrap.dedent(READ_OUTSIDE) + f"\nDISARM = {DISARM_WITH_BUILTINS!r}"
    return code(body, head + DISARM_WITHOUT_EXEC)


# The real builtins are the ones whose __import__ gives a module no check may import, or whose exec runs code.
REAL_BUILTINS_TEST = """
b = reach()
if not (isinstance(b, dict) and callable(b.get('__import__'))):
    return False
try:
    if type(b['__import__']('sys')).__name__ == 'module':
        return True
except Exception:
    pass
namespace = {'__builtins__': b}
b['exec']('import sys as found', namespace)
return type(namespace.get('found')).__name__ == 'module'
"""


def disarm_body(name: str) -> str:
    if name in DISARM_ONLY:
        return "disarm()\nreturn outside_read_works()"
    return "b = reach()\ndisarm_with(b)\nreturn outside_read_works(b['open'])"


@pytest.fixture(scope="module")
def layered_pool():
    """A pool with every layer on, as users get it."""
    with SandboxPool(workers=1, timeout_s=2.0, memory_mb=512) as pool:
        yield pool


@pytest.mark.parametrize("name", sorted(REACH))
def test_class1_gadget_does_not_hand_out_the_real_builtins(layered_pool, name):
    results = layered_pool.check_batch([CheckTask(gadget_code(name, REAL_BUILTINS_TEST), "i", "x")] + honest_tasks())
    assert not malformed(results[:1])
    assert results[0].passed is not True, f"{name}: the check got the real builtins (Python layers breached)"
    assert not wrong_honest(results[1:])


@pytest.fixture(scope="module")
def outside_read_visible() -> bool:
    """Whether a file outside the Python installation is in the kernel's view (read with the Python layers off).
    The disarm test infers 'the audit hook is off' from such a read succeeding, so it needs one."""
    probe = code("return outside_read_works()", textwrap.dedent(READ_OUTSIDE))
    with SandboxPool(workers=1, timeout_s=2.0, _python_layers=False) as bare:
        return bare.check(probe, "i", "x").passed is True


def test_class1_the_audit_hook_refuses_the_outside_read_probe(layered_pool, outside_read_visible):
    if not outside_read_visible:
        pytest.skip("no file outside the Python installation is visible in the sandbox")
    probe = code("return outside_read_works()", textwrap.dedent(READ_OUTSIDE))
    refused = layered_pool.check(probe, "i", "x")
    assert refused.passed is False, f"the audit hook let a plain check read outside the Python tree: {refused}"


@pytest.mark.parametrize("name", sorted(REACH) + sorted(DISARM_ONLY))
def test_class1_gadget_cannot_disarm_the_audit_hook(layered_pool, outside_read_visible, name):
    if not outside_read_visible:
        pytest.skip("no file outside the Python installation is visible: a disarmed hook cannot be observed")
    results = layered_pool.check_batch([CheckTask(gadget_code(name, disarm_body(name)), "i", "x")] + honest_tasks())
    assert not malformed(results[:1])
    assert results[0].passed is not True, (
        f"{name}: after the gadget a file outside the Python installation could be read, i.e. the audit hook was "
        "disarmed (Python layers breached)"
    )
    assert not wrong_honest(results[1:])


ESCAPES = {
    "write_file": "b['open'](MARKER, 'w').write('x')",
    "shell": "assert b['__import__']('os').system('touch ' + MARKER) == 0",
    "connect": "b['__import__']('socket').create_connection(('127.0.0.1', PORT), timeout=1).sendall(b'x')",
    "read_secret_file": "raise ValueError(b['open'](SECRET_FILE).read())",
    "read_environment": "raise ValueError(repr(b['__import__']('os').environ) + b['open']('/proc/1/environ').read())",
    "signal_parent": "b['__import__']('os').kill(b['__import__']('os').getppid(), 9)",
}


# Without the builtins (the disarm-only gadgets), the allowed modules' own file access, after disarm().
ESCAPES_WITHOUT_BUILTINS = {
    "read_secret_file": "raise ValueError(ET.tostring(ET.parse(SECRET_FILE).getroot()).decode())",
    "write_file": "ET.ElementTree(ET.Element('x')).write(MARKER)",
}


def escapes_for(name: str) -> dict[str, str]:
    return ESCAPES if name in REACH else ESCAPES_WITHOUT_BUILTINS


def escape_code(name: str, escape: str, marker: Path, secret: Path, port: int) -> str:
    step = escapes_for(name)[escape].replace("MARKER", repr(str(marker))).replace("SECRET_FILE", repr(str(secret)))
    step = step.replace("PORT", str(port))
    if name in DISARM_ONLY:
        body = f"disarm()\n{step}\nreturn True"
    else:
        body = f"""
            b = reach()
            try:
                disarm_with(b)
            except Exception:
                pass
            {step}
            return True"""
    return gadget_code(name, body)


@pytest.mark.parametrize("name", sorted(REACH) + sorted(DISARM_ONLY))
def test_class1_whatever_a_gadget_gives_nothing_escapes(layered_pool, name, tmp_path, listener):
    """The kernel layers are the boundary: even with the real builtins and the audit hook off (on main, the
    gadgets give both), no file is written, no process or socket is made, no secret is read."""
    marker, secret = tmp_path / "pwned", tmp_path / "secret.xml"
    secret.write_text("<s>file-secret-8c2e41</s>")
    port = listener.getsockname()[1]
    escapes = sorted(escapes_for(name))
    tasks = [CheckTask(escape_code(name, e, marker, secret, port), "i", "x") for e in escapes]
    results = layered_pool.check_batch(tasks + honest_tasks())
    time.sleep(0.2)  # a (wrongly) spawned process would have finished by now
    errors = " | ".join(f"{e}: {r.passed} {r.error}" for e, r in zip(escapes, results))
    assert not malformed(results[: len(escapes)]), errors
    assert not marker.exists(), errors
    assert nobody_connected(listener), errors
    assert "file-secret-8c2e41" not in errors and ENV_SECRET_VALUE not in errors, errors
    assert all(r.passed is not True for r in results[: len(escapes)]), errors
    assert not wrong_honest(results[len(escapes) :])
    assert not wrong_honest(layered_pool.check_batch(honest_tasks()))  # the pool (and its parent) still answer


def test_class1_control_without_any_layer_the_escapes_are_real(tmp_path, listener):
    """The same escapes with every layer off: the file is written, the socket connects, the secret is read; so
    the test above can fail."""
    marker, secret = tmp_path / "pwned", tmp_path / "secret.xml"
    secret.write_text("<s>file-secret-8c2e41</s>")
    port = listener.getsockname()[1]
    name, escapes = "typing_forward_ref_via_singledispatch", ["write_file", "connect", "read_secret_file"]
    with SandboxPool(
        workers=1, timeout_s=2.0, _python_layers=False, _seccomp=False, namespaces=False, allow_unsandboxed=True
    ) as naked:
        results = naked.check_batch([CheckTask(escape_code(name, e, marker, secret, port), "i", "x") for e in escapes])
    assert marker.exists()
    assert not nobody_connected(listener)
    assert "file-secret-8c2e41" in (results[2].error or ""), results[2]


def test_class1_honest_uses_of_the_gadget_modules_keep_working(layered_pool):
    """Closing the gadgets must not close the modules: the allow-list keeps them for generated helpers."""
    uses = [
        code(
            """
            dispatch = functools.singledispatch(lambda x: 'other')
            dispatch.register(int, lambda x: 'int')
            return dispatch(3) == 'int' and dispatch('a') == 'other'""",
            "import functools",
        ),
        code(
            """
            @dataclasses.dataclass
            class Point:
                x: int
                y: int = 0
            return Point(1) == Point(1, 0) and repr(Point(2, 3)).endswith('Point(x=2, y=3)')""",
            "import dataclasses",
        ),
        code("Pair = collections.namedtuple('Pair', 'a b')\nreturn Pair(1, 2).b == 2", "import collections"),
        code("Color = enum.Enum('Color', 'RED GREEN')\nreturn Color.GREEN.value == 2", "import enum"),
        code("return string.Formatter().parse('{0} and {1}') is not None", "import string"),
        code("return '{0} words'.format(len(response.split())) == '2 words'"),
        code("return operator.itemgetter(1)(response.split()) == 'words'", "import operator"),
        code("x: typing.List[int] = [1]\nreturn x == [1]", "import typing"),
    ]
    results = layered_pool.check_batch([CheckTask(c, "i", "two words") for c in uses])
    assert [r.passed for r in results] == [True] * len(uses), [r.error for r in results]


# -- class 2: rows that report their verdict and then spin ----------------------------------------------------
# The row's check returns True; the sandbox sends that verdict itself, and the profile hook the row left
# behind turns the sandbox's own send (the C call that writes the verdict) into an endless loop. No knowledge
# of the wire format is needed, and the verdict it reports is its own: a lie about its own constraint only.
SPINNER = """import sys
def check_following(instruction, response):
    def spin_after_send(frame, event, arg):
        if event == 'c_return' and getattr(arg, '__name__', '') in ('write', 'writev', 'send', 'sendall', 'sendmsg'):
            while True:
                pass
    sys.setprofile(spin_after_send)
    return True
# spinner {tag}
"""


def spinners(count: int) -> list[CheckTask]:
    return [CheckTask(SPINNER.format(tag=i), "instruction", "x") for i in range(count)]


def test_class2_spinning_after_the_verdict_costs_no_honest_row_its_verdict():
    # 8 x cores spinners (the 4 x cores, doubled so that the effect survives a machine loaded by others).
    # Each honest row needs a sixth of its time limit alone; beside the spinners it would get 1/(8 + 1/cores) of
    # a core. One child at a time, so the honest rows compete with nothing else of the pool's.
    count = 8 * CORES
    timeout_s = 1.0
    heavy, expected = heavy_tasks(4, timeout_s / 6)
    with SandboxPool(workers=1, parallel=1, timeout_s=timeout_s, _python_layers=False) as pool:
        warm(pool)
        results = pool.check_batch(spinners(count) + heavy + honest_tasks())
    spun, honest = results[:count], results[count:]
    assert all(r.passed is True for r in spun), f"precondition: the spinners' own verdicts arrive: {spun[:3]}"
    assert not wrong_honest(honest, expected + [e for _, _, e in HONEST])


def test_class2_a_child_that_has_reported_gets_no_more_cpu():
    count = 4 * CORES
    # A row whose five checks sleep 0.4 s each holds the batch open for 2 s while using no CPU; the spinners,
    # one check each, have all reported well before half a second.
    sleeper = code("time.sleep(0.4)\nreturn True", "import time")
    with SandboxPool(workers=1, parallel=2, timeout_s=1.0, _python_layers=False) as pool:
        warm(pool)
        with TreeSampler(pool) as sampler:
            started = time.monotonic()
            results = pool.check_batch([CheckTask(sleeper, "instruction", str(i)) for i in range(5)] + spinners(count))
            ended = time.monotonic()
    assert all(r.passed is True for r in results), [r.error for r in results if r.passed is not True]
    window = sorted(n for t, n in sampler.runnable if started + 0.6 <= t <= ended - 0.05)
    assert len(window) >= 5, f"too few samples to judge ({len(window)})"
    # Runnable = asking for a core: a reported child killed or frozen is not; one left spinning is, whether or not
    # a loaded machine gives it the core. Forks and the workers' own moments are brief: the median allows one.
    median = window[len(window) // 2]
    assert median <= 1, (
        f"{median} of the pool's processes were runnable at the median sample while only a sleeping check was "
        f"left ({count} spinners had reported); CPU used by the tree in the batch: "
        f"{sum(sampler.cpu_used().values()):.2f} s in {ended - started:.2f} s"
    )


def test_class2_a_child_that_never_reports_burns_at_most_its_time_limit():
    """The per-child bound: C code the check's own alarm cannot interrupt is stopped by the parent's clock."""
    burner = code("return sum(range(10 ** 13)) > 0")
    with SandboxPool(workers=1, timeout_s=1.0, _python_layers=False) as pool:
        warm(pool)
        with TreeSampler(pool) as sampler:
            results = pool.check_batch([CheckTask(burner, "instruction", "x")] + honest_tasks())
        limit = pool.timeout_s + pool.grace_s
    assert results[0].passed is None and results[0].error, results[0]  # stopped, whichever limit came first
    assert not wrong_honest(results[1:])
    burned = max(sampler.cpu_used().values())
    assert burned <= limit + 0.5, f"a child burned {burned:.2f} s of CPU (its limit: {limit} s by the clock)"


# -- class 3: finished rows keep their memory ------------------------------------------------------------------
HOG = """HOLD = []
def check_following(instruction, response):
    HOLD.append(b'x' * ({mb} * 1024 * 1024))  # written, so resident, and kept after the verdict
    return True
# hog {tag}
"""


def test_class3_the_pools_memory_stays_within_its_children_limits():
    hog_mb, hogs = 400, 6
    # A generous time limit: writing 400 MB takes a while on a loaded machine, and the hogs must answer.
    with SandboxPool(workers=1, parallel=2, memory_mb=512, timeout_s=10.0) as pool:
        warm(pool)
        with TreeSampler(pool) as sampler:
            results = pool.check_batch(
                [CheckTask(HOG.format(mb=hog_mb, tag=i), "instruction", "x") for i in range(hogs)] + honest_tasks()
            )
        own = sampler.start_rss  # the idle pool: workers and their stock of spare children
        bound = own + pool.workers * pool.parallel * pool.memory_mb * MB
    assert [r.passed for r in results[:hogs]] == [True] * hogs, [r.error for r in results[:hogs]]
    assert not wrong_honest(results[hogs:])
    assert sampler.peak_rss <= bound, (
        f"peak RSS of the pool's tree {sampler.peak_rss / MB:.0f} MB > {bound / MB:.0f} MB = the idle pool's "
        f"{own / MB:.0f} MB + {pool.workers} worker(s) x {pool.parallel} parallel children x {pool.memory_mb} MB"
    )


# -- class 4: a slow host call -----------------------------------------------------------------------------------
HOST_CALL_S = 4.0  # longer than the time limit and its grace: a parent blocked this long has missed deadlines
ASKS_JUDGE = """from llm_call import llm_extract
def check_following(instruction, response):
    return llm_extract(instruction, response, 'the answer?') == 'answer to ' + response
"""


def test_class4_a_slow_host_call_changes_no_verdict():
    def llm_extract(instruction, response, question):
        time.sleep(HOST_CALL_S)
        return f"answer to {response}"

    timeout_s = 2.0
    heavy, expected = heavy_tasks(3, timeout_s / 20)  # in flight around the host calls, but light
    asking = [CheckTask(ASKS_JUDGE, "instruction", f"response {i}") for i in range(2)]  # one row, two rollouts
    with SandboxPool(workers=1, parallel=4, timeout_s=timeout_s, host_functions={"llm_extract": llm_extract}) as pool:
        warm(pool)
        results = pool.check_batch(asking + heavy + honest_tasks())
    problems = wrong_honest(results[2:], expected + [e for _, _, e in HONEST])
    problems += [
        f"the asking row's check {i}: {r.passed!r} ({r.error}); its clock must pause during its host call"
        for i, r in enumerate(results[:2])
        if r.passed is not True
    ]
    assert not problems, problems


# -- class 5: one huge function ------------------------------------------------------------------------------------
def huge_function(shape: str, size: int) -> str:
    head = "def check_following(instruction, response):\n"
    if shape == "memory":  # deeply nested list displays: the parser's and compiler's memory
        unit = "    x = " + "[" * 90 + "]" * 90 + "\n"
    else:  # "time": thousands of nested functions in one function (the compiler is superlinear in them)
        unit = "    def g(a, b=1, *c, d, **e):\n        return a\n"
    return head + unit * (size // len(unit)) + "    return True\n"


# The harness's own peak is read from VmHWM after resetting it (/proc/self/clear_refs): ru_maxrss would not do, as
# Linux carries the parent's (pytest's) high-water mark across exec into the child's ru_maxrss.
HUGE_HARNESS = """
import json, sys, threading, time
import psutil
from verif_nb.sandbox import CheckTask, SandboxPool
huge, honest = json.loads(sys.stdin.read())
me = psutil.Process()
with SandboxPool(workers=1, timeout_s=2.0) as pool:
    pool.check(honest[0][0], 'instruction', honest[0][1])
    time.sleep(0.5)
    with open('/proc/self/clear_refs', 'w') as fh:
        fh.write('5')  # resets VmHWM, this process's peak RSS, to its RSS now
    before = me.memory_info().rss
    peak = [before]
    stop = threading.Event()
    def sample():  # cannot run while the interpreter's compiler holds the GIL: VmHWM covers that
        while not stop.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            stop.wait(0.01)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.monotonic()
    tasks = [CheckTask(huge, 'instruction', 'x')] + [CheckTask(c, 'instruction', r) for c, r in honest]
    results = pool.check_batch(tasks)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join()
    with open('/proc/self/status') as fh:
        max_rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith('VmHWM:'))
print(json.dumps({"elapsed": elapsed, "growth": max(peak[0], max_rss) - before,
                  "verdicts": [[r.passed, r.error] for r in results]}))
"""


@pytest.mark.parametrize("shape", ["memory", "time"])
def test_class5_one_huge_function_costs_the_caller_bounded_time_and_memory(shape):
    huge = huge_function(shape, 1_500_000)
    honest = [(c, r) for c, r, _ in HONEST]
    try:
        done = subprocess.run(
            [sys.executable, "-c", HUGE_HARNESS],
            input=json.dumps([huge, honest]),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"a {len(huge) / MB:.1f} MB function ({shape}) kept its caller busy for more than 30 s")
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    verdicts = outcome["verdicts"]
    assert [v[0] for v in verdicts[1:]] == [e for _, _, e in HONEST], verdicts[1:]
    assert verdicts[0][0] is not None or verdicts[0][1], "a refused function must say why"
    assert outcome["growth"] < 450 * MB and outcome["elapsed"] < 10, (
        f"a {len(huge) / MB:.1f} MB function ({shape}) cost its caller +{outcome['growth'] / MB:.0f} MB and "
        f"{outcome['elapsed']:.1f} s (bounds: +450 MB, 10 s); the function's verdict: {verdicts[0]}"
    )


def run_verify(cwd: Path, data: Path, responses: Path, out: Path, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "verif_nb.cli", "verify", "--data", str(data), "--responses", str(responses)]
        + ["--mode", "rule", "--timeout", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env or dict(os.environ),
    )


def peak_rss_of(command_runner) -> tuple[subprocess.Popen, int, float]:
    """Runs ``command_runner()`` (a Popen) and samples the RSS of that one process (not its children) from here,
    where the caller's compiler holding its GIL cannot stop the sampling."""
    process = command_runner()
    me = psutil.Process(process.pid)
    peak, started = 0, time.monotonic()
    while process.poll() is None:
        try:
            peak = max(peak, me.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
        if time.monotonic() - started > 60:
            process.kill()
            break
    process.wait()
    return process, peak, time.monotonic() - started


def test_class5_a_huge_function_through_verify_costs_the_caller_bounded_memory(tmp_path):
    """The same through ``verif-nb verify``: reading the data screens every function too. Beside a control run
    whose function is small, the caller's peak RSS may grow by less than 450 MB and its time by less than 10 s."""

    def verify_with(function: str, name: str):
        data, responses, out = tmp_path / f"{name}.jsonl", tmp_path / f"{name}_resp.jsonl", tmp_path / f"{name}.out"
        record = {
            "id": "r1",
            "prompt": "p",
            "checkers": ["[rule] huge", "[rule] two words"],
            "functions": [function, HONEST[0][0]],
        }
        data.write_text(json.dumps(record) + "\n")
        responses.write_text(json.dumps({"id": "r1", "response": "two words"}) + "\n")
        command = [sys.executable, "-m", "verif_nb.cli", "verify", "--data", str(data), "--responses", str(responses)]
        command += ["--mode", "rule", "--timeout", "2", "--out", str(out)]
        log = tmp_path / f"{name}.log"
        with log.open("w") as sink:
            process, peak, elapsed = peak_rss_of(
                lambda: subprocess.Popen(command, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
            )
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        return process, peak, elapsed, rows, log.read_text()

    _, control_peak, control_s, control_rows, _ = verify_with(HONEST[0][0].replace("== 2", "== 2  # small"), "small")
    process, peak, elapsed, rows, log = verify_with(huge_function("memory", 1_500_000), "huge")
    assert control_rows and control_rows[0]["constraints"][1]["passed"] is True, control_rows
    assert rows, f"verify wrote nothing (exit {process.returncode}): {log[-2000:]}"
    assert rows[0]["constraints"][1]["passed"] is True, rows[0]["constraints"]
    growth, extra = peak - control_peak, elapsed - control_s
    assert growth < 450 * MB and extra < 10, (
        f"verify's own process: +{growth / MB:.0f} MB peak RSS and +{extra:.1f} s against the control run "
        f"({control_peak / MB:.0f} MB, {control_s:.1f} s); bounds +450 MB, +10 s"
    )


# -- class 6: the read-only view -------------------------------------------------------------------------------------
FILE_SECRET = "file-secret-3a9b77"
SECRET_XML = f"<credentials><token>{FILE_SECRET}</token></credentials>"


def reader_rows(secret: Path) -> dict[str, str]:
    """Rows that try to read ``secret`` through the Python layers (from the gadgets above) and report what they
    read in their error text; each returns True only if it read the secret."""
    path = repr(str(secret))
    # Recognised by its markup: the secret's value itself appears nowhere in the code (code may be echoed).
    leak = "if '<token>' in data:\n    return True\nraise ValueError(data)"
    disarmed = "b = reach()\ndisarm_with(b)\n"
    return {
        "plain_open": code(f"data = open({path}).read()\n{leak}"),
        "elementtree_after_enum_disarm": gadget_code(
            "enum_global_enum_writes_module_names",
            f"disarm()\ndata = ET.tostring(ET.parse({path}).getroot()).decode()\n{leak}",
        ),
        "open_after_formatter_gadget": gadget_code(
            "string_formatter_field_lookup", f"{disarmed}data = b['open']({path}).read()\n{leak}"
        ),
        "module_loader_get_data": gadget_code(
            "match_args_from_type_dict",
            f"{disarmed}loader = b['getattr'](b['__import__']('json'), '__loader__')\n"
            f"data = loader.get_data({path}).decode()\n{leak}",
        ),
        "importlib_resources_path": gadget_code(
            "dataclasses_codegen_field_name",
            f"{disarmed}resources = b['__import__']('importlib.resources', fromlist=['files'])\n"
            f"data = (resources.files('json') / {path}).read_text()\n{leak}",
        ),
    }


def test_class6_verify_run_from_a_directory_with_a_secret_cannot_read_it(tmp_path):
    """``python -m verif_nb.cli verify`` (as the README's accelerate command runs it) from a working directory
    holding a secret file: no row gets its content, whatever it reads through."""
    workdir, inputs = tmp_path / "project", tmp_path / "inputs"
    workdir.mkdir()
    inputs.mkdir()
    secret = workdir / "credentials.xml"
    secret.write_text(SECRET_XML)
    readers = reader_rows(secret)
    record = {
        "id": "r1",
        "prompt": "p",
        "checkers": [f"[rule] {name}" for name in readers] + ["[rule] two words"],
        "functions": list(readers.values()) + [HONEST[0][0]],
    }
    (inputs / "data.jsonl").write_text(json.dumps(record) + "\n")
    (inputs / "responses.jsonl").write_text(json.dumps({"id": "r1", "response": "two words"}) + "\n")
    out = inputs / "out.jsonl"
    done = run_verify(workdir, inputs / "data.jsonl", inputs / "responses.jsonl", out)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(out.read_text().splitlines()[0])
    verdicts = {c["name"]: (c["passed"], c["error"]) for c in row["constraints"]}
    leaked = [name for name, (passed, _) in verdicts.items() if passed is True and name != "[rule] two words"]
    malformed = [name for name, (_, error) in verdicts.items() if (error or "").startswith("SyntaxError")]
    assert not malformed, f"precondition: every reader is well-formed code: {verdicts}"
    assert FILE_SECRET not in out.read_text() + done.stdout + done.stderr, verdicts
    assert not leaked, f"these rows read the secret: {leaked}"
    assert verdicts.get("[rule] two words", (None,))[0] is True, verdicts


VIEW_HARNESS = """
import json, sys
from verif_nb.sandbox import SandboxPool
paths = json.loads(sys.argv[1])
readers = {
    "open": "def check_following(i, r):\\n    return open(PATH).read()\\n",
    "listdir": "import os\\ndef check_following(i, r):\\n    return os.listdir(os.path.dirname(PATH))\\n",
    "stat": "import os\\ndef check_following(i, r):\\n    return os.stat(PATH).st_size > 0\\n",
}
report = {}
with SandboxPool(workers=1, timeout_s=2.0, _python_layers=False) as pool:
    for label, path in paths.items():
        for how, template in readers.items():
            result = pool.check(template.replace("PATH", repr(path)), "i", "x")
            report[f"{label}/{how}"] = [result.passed, result.error]
print(json.dumps({"sys_path": sys.path, "report": report}))
"""


@pytest.mark.parametrize("start", ["python_-m_from_the_secret_dir", "script_in_the_secret_dir", "PYTHONPATH_entry"])
def test_class6_the_kernel_view_holds_no_directory_that_sys_path_adds(tmp_path, start):
    """With the Python layers off, only the kernel's view decides: a directory on the caller's ``sys.path`` that
    is neither the Python installation, site-packages nor the package (the working directory under ``-m``, a
    script's folder, a PYTHONPATH entry) must not be in it."""
    secret_dir, elsewhere = tmp_path / "secret_dir", tmp_path / "elsewhere"
    secret_dir.mkdir()
    elsewhere.mkdir()
    secret = secret_dir / "credentials.xml"
    secret.write_text(SECRET_XML)
    env = dict(os.environ)
    if start == "python_-m_from_the_secret_dir":
        (secret_dir / "view_harness.py").write_text(VIEW_HARNESS)
        command, cwd = [sys.executable, "-m", "view_harness"], secret_dir
    elif start == "script_in_the_secret_dir":
        (secret_dir / "view_harness.py").write_text(VIEW_HARNESS)
        command, cwd = [sys.executable, str(secret_dir / "view_harness.py")], elsewhere
    else:
        command, cwd = [sys.executable, "-c", VIEW_HARNESS], elsewhere
        env["PYTHONPATH"] = str(secret_dir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        command + [json.dumps({"secret": str(secret)})], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert any(os.path.realpath(p) == os.path.realpath(secret_dir) for p in outcome["sys_path"] if p), (
        "precondition: the secret's folder is on the caller's sys.path",
        outcome["sys_path"],
    )
    seen = {how: verdict for how, verdict in outcome["report"].items() if verdict[0] not in (None, False)}
    assert not seen and FILE_SECRET not in done.stdout, f"the sandbox sees {secret_dir}: {outcome['report']}"


# -- randomized composition of string-evaluating primitives (every layer on) ------------------------------------------
SEEDS = list(range(3)) if os.environ.get("CI") else [random.SystemRandom().randrange(2**32) for _ in range(3)]
SIDE_EFFECTS = [
    "b['open'](MARKER, 'w').write('x')",
    "b['__import__']('os').system('touch ' + MARKER)",
    "b['__import__']('socket').create_connection(('127.0.0.1', PORT), timeout=1).sendall(b'x')",
    "LEAKS.append(b['open'](SECRET_FILE).read())",
    "LEAKS.append(repr(b['__import__']('os').environ))",
    "ET.ElementTree(ET.Element('x')).write(MARKER)",
    "LEAKS.append(ET.tostring(ET.parse(SECRET_FILE).getroot()).decode())",
    "import functools\ndef hinted(x: \"re.compile.__globals__['__builtins__']['open'](MARKER, 'w') or int\"):\n"
    "    return x\nfunctools.singledispatch(lambda x: x).register(hinted)",
]
EXTRA_PRIMITIVES = [  # string-evaluating or name-by-string steps that need no gadget
    "match 'x{0.__class__.__mro__}':\n    case str(format=render):\n        LEAKS.append(render(response))",
    "LEAKS.append(type('T', (), {'__getattr__': lambda self, name: name})().anything)",
    "import typing\nLEAKS.append(typing.List['().__class__.__base__'])",
    "import collections\nLEAKS.append(collections.namedtuple('N', 'a b', module='builtins'))",
]


IS_REAL = """
def is_real(b):
    try:
        return type(b['__import__']('sys')).__name__ == 'module'
    except Exception:
        return False
"""


def random_attack(rng: random.Random, marker: Path, secret: Path, port: int) -> str:
    """1-3 gadgets (renamed apart), maybe a disarm, 1-2 side effects with whatever builtins were reached; at module
    level or inside the check. Returns True only if some gadget reached the real builtins."""
    names = rng.sample(sorted(REACH), rng.randint(1, 3))
    prelude = ["import re", textwrap.dedent(READ_OUTSIDE), "LEAKS = []", f"DISARM = {DISARM_WITH_BUILTINS!r}"]
    prelude.append(DISARM_WITHOUT_EXEC)
    prelude.append(IS_REAL)
    for k, name in enumerate(names):
        prelude.append(textwrap.dedent(REACH[name]).replace("def reach(", f"def reach_{k}("))
    enum_disarm = rng.random() < 0.4
    if enum_disarm:
        prelude.append(textwrap.dedent(DISARM_ONLY["enum_global_enum_writes_module_names"]))
    steps = ["GOT = []"]
    for k in range(len(names)):
        steps.append(f"try:\n    GOT.append(reach_{k}())\nexcept BaseException:\n    pass")
    steps.append("GOT = [g for g in GOT if is_real(g)]")
    if enum_disarm:
        steps.append("try:\n    disarm()\nexcept BaseException:\n    pass")
    if rng.random() < 0.7:
        steps.append("if GOT:\n    try:\n        disarm_with(GOT[0])\n    except BaseException:\n        pass")
    steps.append("b = GOT[0] if GOT else {'open': None, '__import__': None}")
    for step in rng.sample(SIDE_EFFECTS + EXTRA_PRIMITIVES, rng.randint(1, 2)):
        step = step.replace("MARKER", repr(str(marker))).replace("SECRET_FILE", repr(str(secret)))
        step = step.replace("PORT", str(port))
        steps.append("try:\n" + textwrap.indent(step, "    ") + "\nexcept BaseException:\n    pass")
    verdict = "bool(GOT)"
    if rng.random() < 0.3:  # at import time, outside check_following
        return "\n".join(prelude + steps) + f"\ndef check_following(instruction, response):\n    return {verdict}\n"
    leak = f"if any(s in str(x) for x in LEAKS for s in ('<token>', {ENV_SECRET_NAME!r})):\n    raise ValueError(LEAKS)"
    return code("\n".join(steps) + f"\n{leak}\nreturn {verdict}", "\n".join(prelude))


@pytest.mark.parametrize("seed", SEEDS)
def test_randomized_string_gadget_compositions(tmp_path, listener, seed):
    rng = random.Random(seed)
    marker, secret = tmp_path / "pwned", tmp_path / "secret.xml"
    secret.write_text(SECRET_XML)
    port = listener.getsockname()[1]
    attacks = [random_attack(rng, marker, secret, port) for _ in range(20)]
    with SandboxPool(workers=2, timeout_s=2.0) as pool:
        tasks = []
        for attack in attacks:
            tasks += [CheckTask(attack, "instruction", "x")] + honest_tasks()
        results = pool.check_batch(tasks)
        later = pool.check_batch(honest_tasks())
    time.sleep(0.1)
    width = 1 + len(HONEST)
    attack_results = results[::width]
    assert not malformed(attack_results), f"seed {seed}"
    wrong = [w for start in range(0, len(tasks), width) for w in wrong_honest(results[start + 1 : start + width])]
    # The kernel boundary first: no side effect, no secret, no honest verdict changed.
    assert not marker.exists() and nobody_connected(listener), f"seed {seed}"
    assert not any(FILE_SECRET in (r.error or "") or ENV_SECRET_VALUE in (r.error or "") for r in results), seed
    assert not wrong and not wrong_honest(later), (seed, wrong)
    # Then the Python layers: no composition reached the real builtins.
    breached = [i for i, r in enumerate(attack_results) if r.passed is True]
    example = attacks[breached[0]][-3000:] if breached else ""
    assert not breached, f"seed {seed}: attacks {breached} of {len(attacks)} reached the real builtins; one:\n{example}"
