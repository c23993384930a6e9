"""Several judge servers behind one client: least-outstanding choice, and a back-off for servers that fail.

A judge served by several vLLM replicas (one per GPU or per node) is given as several base URLs, in a
params file (``judge.base_url`` as a list or a comma-separated string) or on the command line
(``--judge-base-url`` given several times). :class:`EndpointPool` decides which server gets each attempt:

* the server in rotation with the fewest requests outstanding (ties go round-robin), so a slow replica
  gets fewer calls and a fast one more;
* a server whose attempt fails with a connection error, a timeout, a 429 or a 5xx is taken out of
  rotation for ``cooldown_s`` seconds and the ejection is counted; the client's retry of that call then
  goes to another server. After the back-off the server is tried again (one failure sends it back out);
* when every server is out of rotation the one whose back-off ends first is used, so a call is never
  parked indefinitely: the client's own retry limit decides when it ends as a counted failure.

The pool only chooses and counts; sending, retrying and caching stay in the client, so the answer cache
(keyed on model, template and text, never on the server) is shared by all servers.

Example:
    >>> pool = EndpointPool(["http://a:8000/v1", "http://b:8000/v1"], cooldown_s=30)
    >>> lease = pool.lease(); lease.url
    'http://b:8000/v1'
    >>> lease.release("connect")  # b is out of rotation for 30 s
    >>> pool.lease().url
    'http://a:8000/v1'

"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from verif_nb.errors import ParamsError

# Failure kinds (the client's names) that say the server, not the request, is the problem.
SERVER_FAILURES = frozenset({"connect", "timeout", "http_429", "http_5xx"})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def split_base_urls(value: str | Sequence[str]) -> list[str]:
    """The endpoints of a ``base_url`` setting: a string, a comma-separated string, or a list of either.

    Trailing slashes are dropped and repeats removed (a repeated server would get twice the traffic).

    Example:
        >>> split_base_urls("http://a:1/v1/, http://b:2/v1")
        ['http://a:1/v1', 'http://b:2/v1']
        >>> split_base_urls(["http://a:1/v1", "http://b:2/v1,http://a:1/v1"])
        ['http://a:1/v1', 'http://b:2/v1']
    """
    items = [value] if isinstance(value, str) else list(value)
    urls: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ParamsError(f"judge base_url: expected URL strings, got {type(item).__name__} {item!r}")
        for part in item.split(","):
            url = part.strip().rstrip("/")
            if url and url not in urls:
                urls.append(url)
    if not urls:
        raise ParamsError("judge base_url is empty; give an OpenAI-compatible API root such as http://host:8000/v1")
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ParamsError(f"judge base_url {url!r} is not an http(s) URL (expected e.g. http://host:8000/v1)")
    return urls


@dataclass
class Endpoint:
    """One server and its counters (all guarded by the pool's lock).

    Example:
        >>> Endpoint("http://a:1/v1").in_rotation(now=0.0)
        True
    """

    url: str
    outstanding: int = 0
    attempts: int = 0
    failures: int = 0
    ejections: int = 0
    out_until: float = 0.0

    def in_rotation(self, now: float) -> bool:
        return now >= self.out_until

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "url": self.url,
            "attempts": self.attempts,
            "failures": self.failures,
            "ejections": self.ejections,
            "outstanding": self.outstanding,
            "in_rotation": self.in_rotation(now),
            "back_in_s": round(max(0.0, self.out_until - now), 3),
        }


class Lease:
    """One attempt's hold on a server; the client's transport calls :meth:`release` when the attempt ends
    (with the failure kind, or None on success).

    Example:
        >>> pool = EndpointPool("http://a:1/v1")
        >>> lease = pool.lease(); lease.release("connect")
        >>> pool.snapshot()[0]["ejections"]
        1
    """

    def __init__(self, pool: EndpointPool, endpoint: Endpoint):
        self._pool, self.endpoint, self._open = pool, endpoint, True

    @property
    def url(self) -> str:
        return self.endpoint.url

    def release(self, failure: str | None = None) -> None:
        """Give the server back; ``failure`` is one of the client's kinds (``connect``, ``http_5xx`` ...)."""
        if self._open:
            self._open = False
            self._pool._release(self.endpoint, failure)


class EndpointPool:
    """Chooses a server per attempt (least outstanding, failing servers backed off); thread-safe.

    ``cooldown_s`` is how long a server that failed stays out of rotation; ``clock`` is for tests.

    Example:
        >>> pool = EndpointPool("http://a:1/v1,http://b:2/v1")
        >>> pool.size, pool.all_local
        (2, False)
    """

    def __init__(
        self, urls: str | Sequence[str], cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        if cooldown_s < 0:
            raise ParamsError(f"endpoint cooldown {cooldown_s!r}: seconds, at least 0")
        self.endpoints = [Endpoint(url) for url in split_base_urls(urls)]
        self.cooldown_s = float(cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = 0

    @property
    def size(self) -> int:
        return len(self.endpoints)

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.endpoints]

    @property
    def all_local(self) -> bool:
        """True when every server is on this machine (the client then ignores proxy settings)."""
        return all((urlparse(e.url).hostname or "") in _LOCAL_HOSTS for e in self.endpoints)

    def _choose(self) -> Endpoint:
        now = self._clock()
        live = [e for e in self.endpoints if e.in_rotation(now)]
        if not live:
            # Every server is backed off: use the one that comes back first rather than wait; the
            # client's retry budget bounds how long a call keeps trying.
            return min(self.endpoints, key=lambda e: e.out_until)
        least = min(e.outstanding for e in live)
        tied = [e for e in live if e.outstanding == least]
        self._turn += 1
        return tied[self._turn % len(tied)]

    def lease(self) -> Lease:
        """Hold a server for one attempt: the least busy in rotation. Release it when the attempt ends.

        Example:
            >>> pool = EndpointPool(["http://a:1/v1", "http://b:2/v1"])
            >>> first, second = pool.lease(), pool.lease()
            >>> sorted([first.url, second.url])  # both idle: one each
            ['http://a:1/v1', 'http://b:2/v1']
            >>> first.release("http_5xx"); second.release()
            >>> {pool.lease().url for _ in range(3)} == {second.url}  # first's server is backed off
            True
        """
        with self._lock:
            endpoint = self._choose()
            endpoint.outstanding += 1
            endpoint.attempts += 1
        return Lease(self, endpoint)

    def _release(self, endpoint: Endpoint, failure: str | None) -> None:
        with self._lock:
            endpoint.outstanding -= 1
            if failure is None:
                return
            endpoint.failures += 1
            if failure in SERVER_FAILURES:
                now = self._clock()
                if endpoint.in_rotation(now):
                    endpoint.ejections += 1
                endpoint.out_until = now + self.cooldown_s

    def snapshot(self) -> list[dict[str, Any]]:
        """Per-server counters: attempts, failures, ejections (times taken out of rotation), outstanding.

        Example:
            >>> EndpointPool("http://a:1/v1").snapshot()[0]["attempts"]
            0
        """
        with self._lock:
            now = self._clock()
            return [e.to_dict(now) for e in self.endpoints]
