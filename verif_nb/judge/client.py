"""The judge client: asks an OpenAI-compatible chat endpoint whether a response meets its constraints.

The transport is the ``openai`` SDK (``AsyncOpenAI``): it sends the request, times each attempt out,
retries 408/409/429/5xx, connection errors and timeouts (honouring Retry-After), and types the
answer and its log-probs. Around it verif-nb keeps its own parts: the answer cache, the counters in
:class:`JudgeStats` (every attempt and retry counted by kind, seen at the HTTP layer), the backoff
schedule of ``config.backoff_s`` and the failure policy — a call that still fails, or an answer that
cannot be parsed, gives ``passed=None`` with the error and the raw answer recorded, never a made-up
False. Calls overlap, bounded by ``config.concurrency``; the public methods are synchronous and also
work inside a running event loop (Jupyter).

Example:
    >>> client = JudgeClient(JudgeConfig(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2))
    >>> out = client.score_response("Say hi.", "hi", ["Use lowercase."])  # nothing listens on port 9
    >>> (out.passed, client.stats.failures)
    (None, {'connect': 1})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
import openai
from tqdm.auto import tqdm

from verif_nb.errors import JudgeError
from verif_nb.files import make_encodable
from verif_nb.judge.cache import AnswerCache, CachedAnswer, cache_key
from verif_nb.judge.config import JudgeConfig
from verif_nb.judge.endpoints import EndpointPool
from verif_nb.judge.templates import (
    JudgeTemplate,
    OriginalTemplate,
    ParsedVerdict,
    get_template,
    load_template_dir,
    load_template_file,
    original_templates,
    parse_verdict,
    strip_think,
    verdict_token_sets,
)

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
_MAX_RETRY_AFTER_S = 60.0
# A judge answer with top-20 log-probs over a few thousand tokens is a few MB; past this a reply is
# refused (bad_response) while it streams in, instead of being read whole into memory.
MAX_REPLY_BYTES = 16 * 1024 * 1024
_CONNECTIONS_PER_POOL = 8  # see _sdk_client


@dataclass
class JudgeRequest:
    """One judgment to make: ``scope="all"`` judges every constraint in one call (``config.template``),
    ``scope="one"`` a single constraint (``config.judge_template``); ``template`` overrides either.

    Example:
        >>> JudgeRequest.judge("Say hi.", "hi", "Use lowercase.").constraints
        ['Use lowercase.']
    """

    prompt: str
    response: str
    constraints: list[str]
    scope: Literal["all", "one"] = "all"
    template: str | None = None

    @classmethod
    def score(cls, prompt: str, response: str, constraints: list[str], template: str | None = None) -> JudgeRequest:
        """One call over all constraints (VerIF ``llm_score``)."""
        return cls(prompt, response, list(constraints), "all", template)

    @classmethod
    def judge(cls, prompt: str, response: str, constraint: str, template: str | None = None) -> JudgeRequest:
        """One call for one constraint (VerIF ``llm_judge``)."""
        return cls(prompt, response, [constraint], "one", template)


@dataclass
class JudgeOutcome:
    """The result of one judgment.

    ``passed`` is None when no verdict could be had; then ``error`` says why and ``raw`` holds the
    answer if there was one. ``p_yes`` is the judge's probability of the "yes"/``1`` verdict token
    (log-probs on and returned by the server), else None. A ``cached`` outcome cost no call; its
    token counts are those of the original call (the run's spend is in :class:`JudgeStats`).

    Example:
        >>> JudgeOutcome(passed=None, error="HTTP 500", raw=None).verified
        False
    """

    passed: bool | None
    error: str | None = None
    raw: str | None = None
    p_yes: float | None = None
    cached: bool = False
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    template: str | None = None
    text_repaired: int = 0
    """characters of the request or answer that were not encodable (lone surrogates) and became U+FFFD"""
    content_type: str | None = None
    """the Python type of the reply's ``message.content`` (``str``, ``NoneType``, ``list``...); None without a
    reply. A null content or a list of parts reads as text in ``raw``; VerIF's own client cannot read them."""

    @property
    def verified(self) -> bool:
        return self.passed is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JudgeStats:
    """Cost and reliability counters of a client since creation or :meth:`reset`.

    ``calls`` are judgments sent to the server (cache misses), ``attempts`` HTTP requests including
    retries; ``failures`` counts outcomes with passed=None by kind (``connect``, ``timeout``,
    ``http_429``, ``http_5xx``, ``http_4xx``, ``bad_response``, ``unparseable``); ``retries`` counts
    retried attempts by the same kinds.

    Example:
        >>> s = JudgeStats(); s.record_latency(0.5); s.to_dict()["latency_p50_s"]
        0.5
    """

    calls: int = 0
    attempts: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    text_repaired: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_latency(self, seconds: float) -> None:
        with self._lock:
            self.latencies_s.append(seconds)

    def count(self, counter: str, kind: str) -> None:
        with self._lock:
            table = getattr(self, counter)
            table[kind] = table.get(kind, 0) + 1

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    @property
    def failed(self) -> int:
        """Outcomes that ended with passed=None."""
        return sum(self.failures.values())

    def percentile(self, q: float) -> float | None:
        """Nearest-rank latency percentile of the calls made (cache hits excluded), or None."""
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def to_dict(self) -> dict[str, Any]:
        """Flat summary for run metrics."""
        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "failed": self.failed,
            "failures": dict(self.failures),
            "retries": dict(self.retries),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "text_repaired": self.text_repaired,
            "latency_p50_s": self.percentile(50),
            "latency_p90_s": self.percentile(90),
            "latency_p99_s": self.percentile(99),
        }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.calls = self.attempts = self.cache_hits = self.cache_misses = 0
            self.prompt_tokens = self.completion_tokens = self.text_repaired = 0
            self.failures, self.retries, self.latencies_s = {}, {}, []


class _CallFailed(Exception):
    def __init__(self, kind: str, message: str, attempts: int):
        super().__init__(message)
        self.kind, self.attempts = kind, attempts


_RETRYABLE = {"connect", "timeout", "http_429", "http_5xx"}
_TOKEN_TRIM = re.compile(r"^[\s\[\]*_\"'`“”「」:：.,，。!！]+|[\s\[\]*_\"'`“”「」:：.,，。!！]+$")


def p_yes_from_logprobs(
    content: list[dict[str, Any]] | None, raw: str, offset: int | None, parser: str
) -> float | None:
    """Probability of the yes verdict at the verdict token, from OpenAI-style ``logprobs.content``.

    Sums the probability of the alternatives that mean yes (``1``/yes/是) and no (``0``/no/否) in the
    token's ``top_logprobs`` and returns yes / (yes + no); None when the token or both sets are missing.

    Example:
        >>> lp = [{"token": "[[", "logprob": 0.0, "top_logprobs": []},
        ...       {"token": "1", "logprob": math.log(0.8), "top_logprobs": [
        ...           {"token": "1", "logprob": math.log(0.8)}, {"token": "0", "logprob": math.log(0.2)}]}]
        >>> round(p_yes_from_logprobs(lp, "[[1]]", 2, "bracket"), 3)
        0.8
    """
    if not content or offset is None:
        return None
    yes_set, no_set = verdict_token_sets(parser)  # type: ignore[arg-type]

    def norm(token: str) -> str:
        return _TOKEN_TRIM.sub("", token or "").lower()

    entry = None
    if "".join(e.get("token") or "" for e in content) == raw:
        pos = 0
        for e in content:
            tok = e.get("token") or ""
            if pos <= offset < pos + len(tok):
                entry = e
                break
            pos += len(tok)
    else:
        # Token texts do not rebuild the answer (byte-level pieces): take the first verdict-like token
        # after the reasoning.
        seen_think_end = "</think>" not in raw
        for e in content:
            tok = e.get("token") or ""
            if not seen_think_end:
                seen_think_end = "</think>" in tok or tok.strip() == ">"
                continue
            if norm(tok) in yes_set | no_set:
                entry = e
                break
    if entry is None:
        return None
    options = {entry.get("token") or "": entry.get("logprob")}
    for alt in entry.get("top_logprobs") or []:
        options.setdefault(alt.get("token") or "", alt.get("logprob"))
    p_yes = sum(_probability(lp) for tok, lp in options.items() if _is_number(lp) and norm(tok) in yes_set)
    p_no = sum(_probability(lp) for tok, lp in options.items() if _is_number(lp) and norm(tok) in no_set)
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and not math.isnan(value))


def _probability(logprob: Any) -> float:
    """exp(logprob) for any number: clamped to <= 0 (a server's rounding or nonsense must not overflow
    math.exp), an integer too large for a float taken as +-inf."""
    try:
        value = float(logprob)
    except OverflowError:
        value = -math.inf if logprob < 0 else math.inf
    return math.exp(min(value, 0.0))


def _reply_text(content: Any) -> str:
    """``message.content`` as the API documents it: a string, null, or a list of parts whose text parts
    (``{"type": "text", "text": ...}``) are joined; any other shape is a ValueError."""
    if content is None:
        return ""  # a reasoning judge may leave content empty and put its thinking elsewhere
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict):
                raise ValueError(f"message.content part is {type(part).__name__}, not an object")
            if part.get("type", "text") == "text":
                if not isinstance(part.get("text"), str):
                    raise ValueError("message.content text part has no string 'text'")
                texts.append(part["text"])
        return "".join(texts)
    raise ValueError(f"message.content is {type(content).__name__}, not a string or a list of parts")


def _token_count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 2**53):
        raise ValueError(f"usage.{name} is {value!r}, not a token count")
    if value != int(value):
        raise ValueError(f"usage.{name} is {value!r}, not a whole number")
    return int(value)


def _logprob_entries(logprobs: Any) -> list[dict[str, Any]] | None:
    """``choice.logprobs.content`` checked against the documented shape (ValueError otherwise)."""
    if logprobs is None:
        return None
    if not isinstance(logprobs, dict):
        raise ValueError(f"logprobs is {type(logprobs).__name__}, not an object")
    content = logprobs.get("content")
    if content is None:
        return None
    if not isinstance(content, list):
        raise ValueError(f"logprobs.content is {type(content).__name__}, not a list")
    for entry in content:
        alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(alternatives, (list, type(None))):
            raise ValueError("logprobs.content holds an entry that is not {token, logprob, top_logprobs}")
        for item in [entry, *(alternatives or [])]:
            if not isinstance(item, dict) or not isinstance(item.get("token"), (str, type(None))):
                raise ValueError("a logprobs entry has no string token")
            lp = item.get("logprob")
            if lp is not None and (not _is_number(lp) or lp > 1e-6):
                raise ValueError(f"logprob {lp!r} is not a log-probability (a number <= 0)")
    return content


def _unencodable(*texts: Any) -> bool:
    """Whether any of ``texts`` holds a character UTF-8 cannot encode (a lone surrogate)."""
    for text in texts:
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # A loop already runs in this thread (Jupyter): run ours in a helper thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class JudgeClient:
    """Asks the configured judge; counts everything in :attr:`stats`.

    Example:
        >>> client = JudgeClient(JudgeConfig(model="my-judge"))  # connects only when asked to judge
        >>> client.stats.calls
        0
    """

    def __init__(self, config: JudgeConfig, *, original_transport: bool = False):
        # VerIF's APIModel uses the openai SDK's defaults: 2 retries (3 attempts), 600 s a request; it sends text as
        # it is (a lone surrogate fails the call before anything is sent) and reads any reply as its own code does.
        self.original_transport = original_transport
        if original_transport:
            config = config.replace(max_retries=2, timeout_s=600.0)
        self.config = config
        self.stats = JudgeStats()
        if config.template_dir:
            load_template_dir(config.template_dir)
        self.extract_template: JudgeTemplate | None = None  # what rule code's llm_extract is asked with
        if config.template_file:
            if str(config.template_file).endswith(".py"):  # VerIF's llm_call.py: read its prompts, never run it
                score, self.extract_template = original_templates(config.template_file)
            else:
                score = load_template_file(config.template_file)
            self.config = config = config.replace(template=score.name)
        # Validate the templates now, so a typo fails before any call is made.
        get_template(config.template)
        get_template(config.judge_template)
        self._cache = AnswerCache(config.cache_dir) if config.cache_dir else None
        # One pool per client, so back-offs and counts outlive a batch (verif_nb.judge.endpoints).
        self.endpoints = EndpointPool(config.base_url, cooldown_s=config.endpoint_cooldown_s)
        # A proxy from the environment must never capture calls to a local server.
        self._trust_env = not self.endpoints.all_local

    # --- public synchronous API ------------------------------------------------------------------

    def score_response(self, prompt: str, response: str, constraints: list[str]) -> JudgeOutcome:
        """One call over all soft constraints (VerIF ``llm_score``): passed iff the judge says all hold.

        Example:
            >>> client.score_response("Write a haiku.", "Old pond ...", ["Be melancholic."])  # doctest: +SKIP
            JudgeOutcome(passed=True, ...)
        """
        return self.run_many([JudgeRequest.score(prompt, response, constraints)], progress=False)[0]

    def extract(self, prompt: str, response: str, request: str) -> JudgeOutcome:
        """Ask the judge to extract text from a response (rule code's ``llm_extract``); the answer is ``raw``.

        Uses VerIF's own extract prompt when ``template_file`` is its ``llm_call.py``, else ``verif_extract_en``.
        """
        template = self.extract_template or get_template("verif_extract_en")
        return self.run_many(
            [JudgeRequest(prompt, response, [request], template.scope, template.name)], progress=False
        )[0]

    def judge_constraint(self, prompt: str, response: str, constraint: str) -> JudgeOutcome:
        """One call for one constraint (VerIF ``llm_judge``), answered yes/no.

        Example:
            >>> client.judge_constraint("Write a haiku.", "Old pond ...", "Mention a frog.")  # doctest: +SKIP
            JudgeOutcome(passed=False, ...)
        """
        return self.run_many([JudgeRequest.judge(prompt, response, constraint)], progress=False)[0]

    def chat(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float) -> JudgeOutcome:
        """Sends ``messages`` as they are (VerIF's ``generate_chat``; the reference profile's rule-code calls) and
        returns the outcome: ``raw`` is the reply's text, None when the call failed; ``content_type`` says what
        the reply's content was. Counted in :attr:`stats`; never cached.

        Example:
            >>> client.chat([{"role": "user", "content": "Title?"}], 64, 0.0).raw  # doctest: +SKIP
            'A Title'
        """
        return _run_sync(self._chat(messages, max_tokens, temperature))

    async def _chat(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float) -> JudgeOutcome:
        if _unencodable(*(str(m.get("content")) for m in messages)):
            if self.original_transport:
                return self._unsendable(None)
            messages = [{**m, "content": make_encodable(str(m.get("content")))[0]} for m in messages]
        kwargs = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens}
        kwargs["temperature"] = temperature
        if self.config.extra_body:
            kwargs["extra_body"] = dict(self.config.extra_body)
        started = time.perf_counter()
        async with self._sdk_client() as sdk:
            try:
                payload, attempts = await self._create(sdk, kwargs)
            except _CallFailed as failed:
                self.stats.add(calls=1)
                self.stats.count("failures", failed.kind)
                return JudgeOutcome(
                    None, error=str(failed), attempts=failed.attempts, latency_s=time.perf_counter() - started
                )
        latency = time.perf_counter() - started
        self.stats.add(calls=1)
        self.stats.record_latency(latency)
        try:
            answer, _, content_type = self._answer_from_payload(payload, "text")
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            self.stats.count("failures", "bad_response")
            return JudgeOutcome(
                None,
                error=f"malformed response from {self.config.base_url}: {err}",
                attempts=attempts,
                latency_s=latency,
            )
        self.stats.add(prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens)
        return JudgeOutcome(
            None,
            raw=answer.raw,
            attempts=attempts,
            latency_s=latency,
            content_type=content_type,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
        )

    def _unsendable(self, template: str | None) -> JudgeOutcome:
        self.stats.count("failures", "unencodable")
        return JudgeOutcome(
            None,
            error="the request holds text UTF-8 cannot encode (a lone surrogate); VerIF's client fails before "
            "sending it",
            template=template,
        )

    def run_many(self, requests: list[JudgeRequest], progress: bool = True) -> list[JudgeOutcome]:
        """Judge a batch with at most ``config.concurrency`` calls in flight; results keep the input order.

        Example:
            >>> reqs = [JudgeRequest.score("p", r, ["Be polite."]) for r in ("Thanks!", "Go away.")]
            >>> [o.passed for o in client.run_many(reqs)]  # doctest: +SKIP
            [True, False]
        """
        return _run_sync(self.arun_many(requests, progress=progress))

    async def arun_many(self, requests: list[JudgeRequest], progress: bool = True) -> list[JudgeOutcome]:
        """Async form of :meth:`run_many`.

        Example:
            >>> outcomes = await client.arun_many(reqs)  # doctest: +SKIP
        """
        templates = [self._template_for(r) for r in requests]
        semaphore = asyncio.Semaphore(self.config.concurrency * self.endpoints.size)  # concurrency is per server
        async with self._sdk_client() as sdk:
            tasks = [
                asyncio.ensure_future(self._one(sdk, semaphore, req, tpl)) for req, tpl in zip(requests, templates)
            ]
            with tqdm(total=len(tasks), desc="judge", unit="call", disable=not progress or len(tasks) < 2) as bar:
                for fut in asyncio.as_completed(tasks):
                    await fut
                    bar.update(1)
            return [t.result() for t in tasks]

    def close(self) -> None:
        """Release the cache file."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    def _template_for(self, request: JudgeRequest) -> JudgeTemplate:
        name = request.template or (self.config.template if request.scope == "all" else self.config.judge_template)
        template = get_template(name)
        if template.scope == "one" and len(request.constraints) != 1:
            raise JudgeError(
                f"template {template.name!r} judges one constraint per call, but a request has "
                f"{len(request.constraints)}; use a {{constraints}} template for several"
            )
        if not request.constraints and not isinstance(template, OriginalTemplate):  # VerIF asks with []
            raise JudgeError("a judge request needs at least one constraint; skip the judge when there are none")
        return template

    def _request_kwargs(
        self, template: JudgeTemplate, prompt: str, response: str, constraints: list[str]
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": template.render(prompt, response, constraints),
            "max_tokens": template.max_tokens or self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        if self.config.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = self.config.top_logprobs
        if self.config.extra_body:
            kwargs["extra_body"] = dict(self.config.extra_body)
        return kwargs

    def _sdk_client(self) -> _SDKClient:
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        slots = self.config.concurrency * self.endpoints.size
        # httpcore's pool does work quadratic in its connections on every request: above ~16 in flight one
        # pool costs more CPU than the calls themselves (benchmarks/RESULTS.md), so big batches use several.
        shards = -(-slots // _CONNECTIONS_PER_POOL)
        pools = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size), trust_env=self._trust_env
            )
            for size in (slots // shards + (i < slots % shards) for i in range(shards))
        ]
        base = self.endpoints.urls[0]
        http = httpx.AsyncClient(
            trust_env=self._trust_env,
            transport=_CountingTransport(
                _RoutingTransport(pools, self.endpoints, base), deadline_s=self.config.timeout_s
            ),
        )
        return _SDKClient(
            backoff_s=self.config.backoff_s,
            key=key or None,
            base_url=base,
            timeout=self.config.timeout_s,
            max_retries=self.config.max_retries,
            http_client=http,
        )

    async def _one(
        self, sdk: _SDKClient, semaphore: asyncio.Semaphore, request: JudgeRequest, template: JudgeTemplate
    ) -> JudgeOutcome:
        started = time.perf_counter()
        if self.original_transport and _unencodable(request.prompt, request.response, *request.constraints):
            return self._unsendable(template.name)
        # The boundary to the server and the cache: text becomes encodable here, once, and is counted.
        prompt, fixed_prompt = make_encodable(request.prompt)
        # VerIF's own prompts get the response as given (the reference profile has cut it already)
        response = request.response if isinstance(template, OriginalTemplate) else strip_think(request.response)
        response, fixed_response = make_encodable(response)
        constraints = []
        repaired = fixed_prompt + fixed_response
        for text in request.constraints:
            text, fixed = make_encodable(text)
            constraints.append(text)
            repaired += fixed
        if repaired:
            self.stats.add(text_repaired=repaired)
        key = None
        if self._cache is not None:
            key = cache_key(
                self.config.model,
                template.name,
                template.text_hash,
                prompt,
                response,
                constraints,
                self.config.logprobs,
            )
            hit = self._cache.get(key)
            if hit is not None:
                self.stats.add(cache_hits=1)
                return self._outcome_from_answer(
                    hit, template, cached=True, attempts=0, latency=time.perf_counter() - started, repaired=repaired
                )
            self.stats.add(cache_misses=1)
        kwargs = self._request_kwargs(template, prompt, response, constraints)
        async with semaphore:
            started = time.perf_counter()
            try:
                payload, attempts = await self._create(sdk, kwargs)
            except _CallFailed as failed:
                latency = time.perf_counter() - started
                self.stats.add(calls=1)
                self.stats.record_latency(latency)
                self.stats.count("failures", failed.kind)
                logger.warning("judge call failed (%s): %s", failed.kind, failed)
                return JudgeOutcome(
                    passed=None,
                    error=str(failed),
                    raw=None,
                    latency_s=latency,
                    attempts=failed.attempts,
                    template=template.name,
                    text_repaired=repaired,
                )
        latency = time.perf_counter() - started
        self.stats.add(calls=1)
        self.stats.record_latency(latency)
        try:
            answer, fixed_answer, content_type = self._answer_from_payload(payload, template.parser)
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            # an undocumented reply shape fails this call only; AttributeError/KeyError/TypeError are
            # listed so that a shape the checks above missed still cannot take the batch down. It has no answer:
            # its printed form (a body of [[1]]) must never be read as one.
            self.stats.count("failures", "bad_response")
            logger.warning("judge reply malformed: %s", err)
            return JudgeOutcome(
                passed=None,
                error=f"malformed response from {self.config.base_url}: {err}: {repr(payload)[:300]}",
                raw=None,
                latency_s=latency,
                attempts=attempts,
                template=template.name,
                text_repaired=repaired,
            )
        if fixed_answer:
            self.stats.add(text_repaired=fixed_answer)
        self.stats.add(prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens)
        if key is not None and content_type == "str":  # the cache holds text answers only
            self._cache.put(key, answer)  # type: ignore[union-attr]
        outcome = self._outcome_from_answer(
            answer, template, cached=False, attempts=attempts, latency=latency, repaired=repaired + fixed_answer
        )
        outcome.content_type = content_type
        return outcome

    def _outcome_from_answer(
        self,
        answer: CachedAnswer,
        template: JudgeTemplate,
        cached: bool,
        attempts: int,
        latency: float,
        repaired: int = 0,
    ) -> JudgeOutcome:
        try:
            verdict = parse_verdict(answer.raw, template.parser)
        except Exception as err:  # one answer never costs the batch its verdicts: this one is unverified
            logger.warning("a judge answer could not be read (%s: %s)", type(err).__name__, err)
            verdict = ParsedVerdict(None, f"the judge's answer could not be read ({type(err).__name__}: {err})")
        if verdict.passed is None:
            self.stats.count("failures", "unparseable")
        return JudgeOutcome(
            passed=verdict.passed,
            error=verdict.error,
            raw=answer.raw,
            p_yes=answer.p_yes if verdict.passed is not None else None,
            cached=cached,
            content_type="str" if cached else None,
            latency_s=latency,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            attempts=attempts,
            template=template.name,
            text_repaired=repaired,
        )

    def _answer_from_payload(self, payload: Any, parser: str) -> tuple[CachedAnswer, int, str]:
        """The answer in a decoded reply body, how many of its characters were made encodable, and the type of
        its ``message.content``.

        Accepts the shapes the OpenAI chat-completions API documents (content as a string, null or a
        list of parts; usage absent, null or with integer counts; logprobs absent, null or a list of
        entries); anything else is a ValueError, counted by the caller as ``bad_response``. With the original
        transport, as VerIF's client: any content is taken (its type reported) and usage is not read.
        """
        if not isinstance(payload, dict):
            raise ValueError(f"the reply is a JSON {type(payload).__name__}, not an object")
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ValueError("no choices[0] in the reply")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ValueError("no choices[0].message in the reply")
        content = message.get("content")
        content_type = type(content).__name__
        if self.original_transport and not isinstance(content, str):
            raw, repaired = "", 0
        else:
            raw, repaired = make_encodable(_reply_text(content))
        usage = payload.get("usage")
        if usage is None:
            usage = {}
        try:
            if not isinstance(usage, dict):
                raise ValueError(f"usage is {type(usage).__name__}, not an object")
            prompt_tokens, completion_tokens = (
                _token_count(usage, "prompt_tokens"),
                _token_count(usage, "completion_tokens"),
            )
        except ValueError:
            if not self.original_transport:  # VerIF's client never reads usage
                raise
            prompt_tokens = completion_tokens = 0
        p_yes = None
        if self.config.logprobs:
            entries = _logprob_entries(choice.get("logprobs"))
            if entries:
                p_yes = p_yes_from_logprobs(entries, raw, parse_verdict(raw, parser).offset, parser)  # type: ignore
        answer = CachedAnswer(raw=raw, p_yes=p_yes, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return answer, repaired, content_type

    async def _create(self, sdk: _SDKClient, kwargs: dict[str, Any]) -> tuple[Any, int]:
        """One chat completion through the SDK (which retries); returns (completion, attempts)."""
        url = f"{self.config.base_url}/chat/completions"
        seen: list[str] = []
        token = _ATTEMPTS.set(seen)
        try:
            reply = await sdk.chat.completions.with_raw_response.create(**kwargs, extra_headers=sdk.request_headers)
        except _ReplyTooLarge as err:
            raise self._failed(seen, ("bad_response", str(err)), final=True) from err
        except openai.APIStatusError as err:
            raise self._failed(seen, self._status_failure(url, err)) from err
        except openai.APITimeoutError as err:
            raise self._failed(seen, ("timeout", f"no answer within {self.config.timeout_s:g} s")) from err
        except openai.APIConnectionError as err:
            cause = err.__cause__ or err
            raise self._failed(seen, ("connect", f"cannot reach {url}: {type(cause).__name__}: {cause}")) from err
        except ValueError as err:  # a body that claims to be JSON and is not
            raise self._failed(seen, ("bad_response", f"non-JSON reply from {url}: {err}"), final=True) from err
        finally:
            _ATTEMPTS.reset(token)
            self.stats.add(attempts=len(seen))
        self._count_retries(seen[:-1])
        body = reply.http_response.content  # read (capped, within the deadline) by _CountingTransport
        try:
            # decoded here, not by the SDK, so every field can be checked against the documented shapes
            return json.loads(body), len(seen)
        except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, or nested past the parser
            snippet = body[:300].decode("utf-8", "replace")
            raise _CallFailed("bad_response", f"non-JSON reply from {url}: {snippet!r} ({err})", len(seen)) from None

    def _status_failure(self, url: str, err: openai.APIStatusError) -> tuple[str, str]:
        status = err.status_code
        snippet = err.response.text[:300]
        if status == 429:
            return "http_429", f"HTTP 429 from {url}: {snippet!r}"
        if status >= 500:
            return "http_5xx", f"HTTP {status} from {url}: {snippet!r}"
        hint = ""
        if status in (401, 403):
            hint = f" — set the API key in the environment variable {self.config.api_key_env}"
        elif status == 404:
            hint = f" — check base_url ({self.config.base_url}) and the model name ({self.config.model})"
        return "http_4xx", f"HTTP {status} from {url}: {snippet!r}{hint}"

    def _count_retries(self, kinds: list[str]) -> None:
        for kind in kinds:
            self.stats.count("retries", kind)

    def _failed(self, seen: list[str], failure: tuple[str, str], final: bool = False) -> _CallFailed:
        kind, message = failure
        attempts = max(len(seen), 1)
        self._count_retries(seen[:-1])
        if kind in ("http_4xx", "bad_response") or final:
            return _CallFailed(kind, message, attempts)
        return _CallFailed(kind, f"judge call failed after {attempts} attempt(s): {message}", attempts)


# The attempts of the call running in this task, as the HTTP layer sees them: one kind per attempt
# ("ok" or the failure's kind). The SDK retries inside one create(), so this is how each is counted.
_ATTEMPTS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("verif_nb_judge_attempts", default=None)


def _status_kind(status: int) -> str:
    if status == 429:
        return "http_429"
    if status >= 500:
        return "http_5xx"
    return "ok" if status < 400 else "http_4xx"


class _ReplyTooLarge(openai.OpenAIError):
    """A reply body over the cap; an OpenAIError so that the SDK passes it on without retrying."""


class _CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport to note every attempt's outcome for :data:`_ATTEMPTS`, and to hold each
    attempt to a deadline for the whole exchange (httpx's timeout applies per read, so a server sending
    a byte a second never trips it) and the reply body to ``max_bytes``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, deadline_s: float, max_bytes: int | None = None):
        self._inner, self._deadline_s = inner, deadline_s
        self._max_bytes = max_bytes if max_bytes is not None else MAX_REPLY_BYTES

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        # identity: the cap then bounds what is held in memory, not a compressed size that may inflate
        request.headers["Accept-Encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > self._max_bytes:
                    raise _ReplyTooLarge(f"reply body over {self._max_bytes} bytes; refused")
                chunks.append(chunk)
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "transfer-encoding"]
        return httpx.Response(
            response.status_code, headers=headers, content=b"".join(chunks), extensions=response.extensions
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seen = _ATTEMPTS.get()
        try:
            async with asyncio.timeout(self._deadline_s):
                response = await self._exchange(request)
        except TimeoutError:
            if seen is not None:
                seen.append("timeout")
            raise httpx.ReadTimeout(f"no complete reply within {self._deadline_s:g} s", request=request) from None
        except _ReplyTooLarge:
            if seen is not None:
                seen.append("bad_response")
            raise
        except httpx.TimeoutException:
            if seen is not None:
                seen.append("timeout")
            raise
        except httpx.TransportError:
            if seen is not None:
                seen.append("connect")
            raise
        if seen is not None:
            seen.append(_status_kind(response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each attempt (the SDK's retries included) to the least busy judge server in rotation, over the
    least busy of several small connection pools, and reports its outcome to the :class:`EndpointPool`."""

    def __init__(self, pools: list[httpx.AsyncHTTPTransport], endpoints: EndpointPool, base: str):
        self._pools, self._endpoints, self._base = pools, endpoints, base
        self._busy = [0] * len(pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lease = self._endpoints.lease()
        url = str(request.url)
        if lease.url != self._base and url.startswith(self._base):
            request.url = httpx.URL(lease.url + url[len(self._base) :])
        shard = self._busy.index(min(self._busy))
        self._busy[shard] += 1
        failure: str | None = None
        try:
            response = await self._pools[shard].handle_async_request(request)
        except httpx.TimeoutException:
            failure = "timeout"
            raise
        except httpx.TransportError:
            failure = "connect"
            raise
        except asyncio.CancelledError:  # the whole-attempt deadline above ran out while waiting here
            failure = "timeout"
            raise
        finally:
            self._busy[shard] -= 1
            if failure is not None:
                lease.release(failure)
        kind = _status_kind(response.status_code)
        lease.release(None if kind in ("ok", "http_4xx") else kind)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _SDKClient(openai.AsyncOpenAI):
    """``AsyncOpenAI`` whose retry delays follow ``JudgeConfig.backoff_s`` (doubling each retry, capped),
    a server's Retry-After winning when it asks for longer."""

    def __init__(self, *, backoff_s: float, key: str | None, **kwargs: Any):
        self._verif_backoff_s = backoff_s
        # The SDK insists on a key; without one, each request omits the Authorization header (a local
        # server needs none, and a placeholder key must not reach a real one).
        self.request_headers: dict[str, Any] = {} if key else {"Authorization": openai.Omit()}
        super().__init__(api_key=key or "no-key", **kwargs)

    def _calculate_retry_timeout(self, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
        done = options.get_max_retries(self.max_retries) - remaining_retries
        delay = self._verif_backoff_s * (2 ** min(done, 30))
        retry_after = self._parse_retry_after_header(response_headers)
        if retry_after is not None and math.isfinite(retry_after) and 0 < retry_after <= _MAX_RETRY_AFTER_S:
            delay = max(delay, retry_after)
        return min(delay, _MAX_BACKOFF_S)
