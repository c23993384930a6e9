"""The sandbox's wire format, defined once: every record the parent, a zygote and a child exchange.

Standard library only: the parent imports this module, the worker loads it by file path (it runs with ``-I``,
the package is not importable there). Three channels:

* **parent <-> zygote**, the Unix stream socket that is the zygote's stdin. Requests go out as 4-byte big-endian
  length + JSON (:class:`Fork`, :class:`Kill`, :class:`Warm`); frames come back as 1 kind byte + 4-byte length +
  payload (:class:`Ready`, :class:`Children` with each child's descriptors attached by SCM_RIGHTS,
  :class:`Exits`, :class:`Warmed`). The parent trusts the zygote's frames (it never runs dataset code) but still
  checks their sizes and kinds.
* **parent -> child**, on the child's own socket: one :class:`Job` (4-byte length + binary body), then one
  :class:`HostAnswer` per host call.
* **child -> parent**, on the same socket: :data:`DEFINED`, :class:`CheckVerdict` and :class:`HostCall` records. The
  parent trusts none of these bytes: :class:`ChildStream` parses them against the schema, with size caps, and
  a record that does not fit is that function's error.

Example:
    >>> job = Job("x = 1", None, ["instruction", "response"], [(0, 1)], careful=False)
    >>> Job.decode(job.encode()[4:]).tasks
    [(0, 1)]
    >>> stream = ChildStream(count=1)
    >>> stream.feed(CheckVerdict(0, True, None, 0.001).encode())
    ([CheckVerdict(index=0, passed=True, error=None, seconds=0.001)], None)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

LENGTH = struct.Struct(">I")  # every length-prefixed record: 4-byte big-endian length
FRAME = struct.Struct(">cI")  # zygote -> parent: kind byte, payload length
MAX_FRAME_BYTES = 1 << 16  # zygote frames are small
MAX_ERROR_BYTES = 1000  # a verdict's error text, UTF-8
MAX_CALL_BYTES = 1 << 20  # one host call's JSON
MAX_CALLS_BYTES = 64 * MAX_CALL_BYTES  # all host calls of one job, together
MAX_CHILDREN_PER_FRAME = 64  # SCM_RIGHTS carries at most 253 descriptors per message; 2 per child
# Libraries whose data a zygote loads on request (:class:`Warm`) before forking the children that use them; the
# parent asks when a function's source names one (the worker's ``WARM_UPS`` holds the loaders).
WARM_UP_NAMES = ("langdetect", "punkt", "numpy", "random", "statistics")


# -- parent -> zygote ----------------------------------------------------------------------------------------
# Binary: one request per few functions in a busy pool, where JSON's cost showed in the parent's profile.
class Fork(NamedTuple):
    """Fork ``count`` more children; ``ahead``: the pool is idle, they prefault (run a benign function) first."""

    count: int
    ahead: bool

    def encode(self) -> bytes:
        return LENGTH.pack(6) + b"F" + struct.pack(">IB", self.count, self.ahead)


class Kill(NamedTuple):
    """SIGKILL these children (ids given by the zygote); their exits are reported when reaped."""

    children: tuple[int, ...]

    def encode(self) -> bytes:
        return LENGTH.pack(1 + 4 * len(self.children)) + b"K" + struct.pack(f">{len(self.children)}I", *self.children)


class Warm(NamedTuple):
    """Load these libraries' data in the zygote before forking the next child (see ``WARM_UP_NAMES``)."""

    names: tuple[str, ...]

    def encode(self) -> bytes:
        data = b"W" + json.dumps(list(self.names)).encode()
        return LENGTH.pack(len(data)) + data


def decode_request(payload: bytes) -> Fork | Kill | Warm:
    """The zygote's side of a request (the parent's bytes: malformed ones raise, and the zygote exits).

    Example:
        >>> decode_request(Kill((3, 4)).encode()[4:])
        Kill(children=(3, 4))
    """
    kind, body = payload[:1], payload[1:]
    if kind == b"F":
        count, ahead = struct.unpack(">IB", body)
        return Fork(count, bool(ahead))
    if kind == b"K":
        return Kill(struct.unpack(f">{len(body) // 4}I", body))
    if kind == b"W":
        return Warm(tuple(str(n) for n in json.loads(body)))
    raise ValueError(f"unknown request {kind!r}")


# -- zygote -> parent ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The zygote's first frame: what it could set up. ``fatal``: why it refuses to serve (then it exits)."""

    pid: int = 0
    seccomp: bool = False
    kernel_problem: str | None = None
    uid_drop: bool = False
    pidfd: bool = False  # children come with a pidfd (the parent can stop, continue and kill them directly)
    missing: dict[str, str] = field(default_factory=dict)  # allowed modules that failed to import, with why
    fatal: str | None = None

    KIND = b"R"

    def encode(self) -> bytes:
        return _frame(self.KIND, json.dumps(self.__dict__).encode())

    @classmethod
    def decode(cls, payload: bytes) -> Ready:
        body = json.loads(payload)
        if not isinstance(body, dict) or set(body) - set(cls.__dataclass_fields__):
            raise ValueError("not a ready report")
        return cls(**body)


@dataclass(frozen=True)
class Children:
    """New children: (id, pid in the zygote's namespace) each; whether they were forked ``ahead`` (prefaulted,
    while the pool was idle); and the zygote's resident size when it forked them (a finished child holding much
    more than that kept memory of its own). Each child's descriptors (its socket, then its pidfd when
    :attr:`Ready.pidfd`) ride on the frame, in order."""

    children: tuple[tuple[int, int], ...]
    ahead: bool
    zygote_rss_pages: int

    KIND = b"C"
    _HEAD = struct.Struct(">IBI")
    _ENTRY = struct.Struct(">II")

    def encode(self) -> bytes:
        return self.pack(self.children, self.ahead, self.zygote_rss_pages)

    @classmethod
    def pack(cls, children, ahead: bool, zygote_rss_pages: int) -> bytes:
        """The frame's bytes without making the object (the zygote's fork path touches as little as it can)."""
        body = cls._HEAD.pack(len(children), ahead, zygote_rss_pages)
        body += b"".join(cls._ENTRY.pack(child, pid) for child, pid in children)
        return _frame(cls.KIND, body)

    @classmethod
    def decode(cls, payload: bytes) -> Children:
        count, ahead, rss = cls._HEAD.unpack_from(payload)
        if len(payload) != cls._HEAD.size + count * cls._ENTRY.size or count > MAX_CHILDREN_PER_FRAME:
            raise ValueError("a children frame of the wrong size")
        entries = tuple(cls._ENTRY.iter_unpack(payload[cls._HEAD.size :]))
        return cls(entries, bool(ahead), rss)


@dataclass(frozen=True)
class Exit:
    """How one child ended: ``signal`` (its number) or ``code`` (its exit status)."""

    child: int
    signal: int | None
    code: int | None


@dataclass(frozen=True)
class Exits:
    """Children the zygote reaped since its last report."""

    exits: tuple[Exit, ...]

    KIND = b"X"
    _ENTRY = struct.Struct(">IBB")  # child id, 1 if killed by a signal, the signal or exit status

    def encode(self) -> bytes:
        body = b"".join(
            self._ENTRY.pack(e.child, e.signal is not None, (e.signal if e.signal is not None else e.code) & 0xFF)
            for e in self.exits
        )
        return _frame(self.KIND, body)

    @classmethod
    def decode(cls, payload: bytes) -> Exits:
        if len(payload) % cls._ENTRY.size:
            raise ValueError("an exits frame of the wrong size")
        return cls(
            tuple(
                Exit(child, value if signaled else None, None if signaled else value)
                for child, signaled, value in cls._ENTRY.iter_unpack(payload)
            )
        )


@dataclass(frozen=True)
class Warmed:
    """Library data is loaded; children with ids below ``next_child`` were forked before and lack it."""

    next_child: int

    KIND = b"W"

    def encode(self) -> bytes:
        return _frame(self.KIND, LENGTH.pack(self.next_child))

    @classmethod
    def decode(cls, payload: bytes) -> Warmed:
        if len(payload) != LENGTH.size:
            raise ValueError("a warmed frame of the wrong size")
        return cls(LENGTH.unpack(payload)[0])


FRAMES = {kind.KIND: kind for kind in (Ready, Children, Exits, Warmed)}


def _frame(kind: bytes, payload: bytes) -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


def next_frame(buffer: bytearray) -> Ready | Children | Exits | Warmed | None:
    """Takes one complete zygote frame off the front of ``buffer`` (None if it holds none yet); raises
    ValueError for a frame the zygote never sends.

    Example:
        >>> buffer = bytearray(Warmed(7).encode())
        >>> next_frame(buffer), buffer
        (Warmed(next_child=7), bytearray(b''))
    """
    if len(buffer) < FRAME.size:
        return None
    kind, size = FRAME.unpack_from(buffer)
    if kind not in FRAMES or size > MAX_FRAME_BYTES:
        raise ValueError("the worker sent a frame it never sends")
    if len(buffer) < FRAME.size + size:
        return None
    payload = bytes(buffer[FRAME.size : FRAME.size + size])
    del buffer[: FRAME.size + size]
    return FRAMES[kind].decode(payload)


# -- parent -> child -----------------------------------------------------------------------------------------
@dataclass
class Job:
    """One function and the checks to run with it: the source, optionally the parent's screened compile of it
    (marshal bytes), the distinct strings, and (instruction, response) index pairs into them. ``careful``: send
    each record at once (the re-run of a job whose child died, so the culprit can be named)."""

    code: str
    compiled: bytes | None
    strings: list[str]
    tasks: list[tuple[int, int]]
    careful: bool

    _HEAD = struct.Struct(">BIIII")  # flags (1 careful, 2 compiled), strings, tasks, code bytes, compiled bytes

    def encode(self) -> bytes:
        """Length-prefixed, binary: cheaper to read than JSON in a cold child."""
        code = self.code.encode("utf-8", "surrogatepass")
        texts = [text.encode("utf-8", "surrogatepass") for text in self.strings]
        compiled = self.compiled or b""
        flags = (1 if self.careful else 0) | (2 if self.compiled is not None else 0)
        flat = [index for pair in self.tasks for index in pair]
        head = self._HEAD.pack(flags, len(texts), len(self.tasks), len(code), len(compiled))
        sizes = struct.pack(f">{len(texts)}I", *map(len, texts))
        body = b"".join((head, code, compiled, sizes, *texts, struct.pack(f">{len(flat)}I", *flat)))
        return LENGTH.pack(len(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> Job:
        """The child's side (the parent's bytes, trusted there)."""
        flags, n_strings, n_tasks, code_size, compiled_size = cls._HEAD.unpack_from(body)
        at = cls._HEAD.size
        code = body[at : at + code_size].decode("utf-8", "surrogatepass")
        at += code_size
        compiled = bytes(body[at : at + compiled_size]) if flags & 2 else None
        at += compiled_size
        sizes = struct.unpack_from(f">{n_strings}I", body, at)
        at += 4 * n_strings
        strings = []
        for size in sizes:
            strings.append(body[at : at + size].decode("utf-8", "surrogatepass"))
            at += size
        flat = struct.unpack_from(f">{2 * n_tasks}I", body, at)
        return cls(code, compiled, strings, list(zip(flat[0::2], flat[1::2])), bool(flags & 1))


@dataclass(frozen=True)
class HostAnswer:
    """The parent's answer to a host call: ``value`` (any JSON value) when ``ok``; else the exception the host
    function raised: its ``error`` text, and ``kind``/``args`` when it is a builtin exception the child can raise
    as it was (rule code may catch ``AttributeError`` from a judge call, as it could in VerIF).

    Example:
        >>> HostAnswer.decode(HostAnswer(True, None).encode()[4:])
        HostAnswer(ok=True, value=None, error=None, kind=None, args=None)
    """

    ok: bool
    value: object = None
    error: str | None = None
    kind: str | None = None
    args: list | None = None

    def encode(self) -> bytes:
        body = {"ok": self.value} if self.ok else {"error": self.error, "kind": self.kind, "args": self.args}
        data = json.dumps(body).encode("utf-8", "surrogatepass")
        return LENGTH.pack(len(data)) + data

    @classmethod
    def decode(cls, body: bytes) -> HostAnswer:
        answer = json.loads(body)
        if "ok" in answer:
            return cls(True, answer["ok"])
        return cls(False, None, str(answer["error"]), answer.get("kind"), answer.get("args"))


# -- child -> parent -----------------------------------------------------------------------------------------
REC_DEFINED, REC_VERDICT, REC_CALL = 1, 2, 3
DEFINED = bytes([REC_DEFINED])  # check_following is defined (the module body ran)
_VERDICT = struct.Struct(">BIBIH")  # type, u32 index, u8 status (0 False, 1 True, 2 None), u32 microseconds, u16
_MAX_MICROS = 0xFFFFFFFF


class Defined:
    """The child ran the function's module body and found ``check_following``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Defined()"


class CheckVerdict(NamedTuple):
    """One check's outcome: ``passed`` True/False, or None with ``error``; ``seconds`` as the child measured it
    (the definition's time included in the first), which the parent caps by its own clock."""

    index: int
    passed: bool | None
    error: str | None
    seconds: float

    def encode(self) -> bytes:
        text = (self.error or "").encode("utf-8", "replace")[:MAX_ERROR_BYTES] if self.passed is None else b""
        status = 2 if self.passed is None else int(self.passed)
        micros = min(int(self.seconds * 1e6), _MAX_MICROS)
        return _VERDICT.pack(REC_VERDICT, self.index, status, micros, len(text)) + text


class HostCall(NamedTuple):
    """Rule code called a host function (``llm_extract``...): JSON arguments, by position and by name (a value
    JSON cannot carry travels as its ``str()``)."""

    name: str
    args: list
    kwargs: dict

    def encode(self) -> bytes:
        data = json.dumps([self.name, self.args, self.kwargs], default=str).encode("utf-8", "surrogatepass")
        return bytes([REC_CALL]) + LENGTH.pack(len(data)) + data


class ChildStream:
    """Parses one child's byte stream, trusting nothing: known record types, sequential indices, capped sizes.

    ``feed`` returns the complete records so far and a problem (str) once the stream broke the schema; after a
    problem the parent stops the child and charges the function.
    """

    def __init__(self, count: int):
        self.count, self.expected, self.defined = count, 0, False
        self.buffer = bytearray()
        self.total, self.cap = 0, count * (_VERDICT.size + MAX_ERROR_BYTES) + MAX_CALLS_BYTES + 64

    def feed(self, data: bytes) -> tuple[list, str | None]:
        self.total += len(data)
        if self.total > self.cap:
            return [], f"sent more than {self.cap} bytes"
        self.buffer += data
        records: list = []
        buf = self.buffer
        at, end = 0, len(buf)
        try:
            while at < end:
                kind = buf[at]
                if kind == REC_VERDICT:
                    if end - at < _VERDICT.size:
                        break
                    _, index, status, micros, size = _VERDICT.unpack_from(buf, at)
                    if index >= self.count:
                        return records, f"answered check {index} of a batch of {self.count}"
                    if index != self.expected:
                        return records, f"answered check {index} where {self.expected} was due"
                    if status > 2 or size > MAX_ERROR_BYTES or (status < 2 and size):
                        return records, "sent a verdict record that does not fit the schema"
                    if end - at < _VERDICT.size + size:
                        break
                    self.expected += 1
                    if status == 2:
                        text = bytes(buf[at + _VERDICT.size : at + _VERDICT.size + size]).decode("utf-8", "replace")
                        text = text or "the check gave no result and no reason"
                        records.append(CheckVerdict(index, None, text, micros / 1e6))
                    else:
                        records.append(CheckVerdict(index, status == 1, None, micros / 1e6))
                    at += _VERDICT.size + size
                elif kind == REC_DEFINED:
                    if self.defined or self.expected:
                        return records, "announced its definition twice or after a verdict"
                    self.defined = True
                    records.append(Defined())
                    at += 1
                elif kind == REC_CALL:
                    if end - at < 1 + LENGTH.size:
                        break
                    size = LENGTH.unpack_from(buf, at + 1)[0]
                    if size > MAX_CALL_BYTES:
                        return records, f"sent a call of {size} bytes"
                    if end - at < 1 + LENGTH.size + size:
                        break
                    body = bytes(buf[at + 1 + LENGTH.size : at + 1 + LENGTH.size + size])
                    at += 1 + LENGTH.size + size
                    try:
                        call = json.loads(body)
                    except (ValueError, RecursionError):
                        return records, "sent a call that is not JSON"
                    if not (
                        isinstance(call, list)
                        and len(call) == 3
                        and isinstance(call[0], str)
                        and isinstance(call[1], list)
                        and isinstance(call[2], dict)
                    ):
                        return records, "sent a call that does not fit the schema"
                    records.append(HostCall(call[0], call[1], call[2]))
                else:
                    return records, f"sent an unknown record type {kind}"
            return records, None
        finally:
            del buf[:at]
