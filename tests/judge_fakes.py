"""An in-process judge for unit tests of code above the judge client (no network)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    passed: bool | None
    error: str | None = None
    raw: str | None = None
    p_yes: float | None = None
    latency_s: float = 0.0


class FakeJudge:
    """In-process judge: answers by a rule on the request, counts calls (no network in unit tests)."""

    def __init__(self, answer=lambda req: True):
        self.answer = answer
        self.requests = []
        self.stats = FakeStats(self)

    def run_many(self, requests, progress=False):
        self.requests.extend(requests)
        out = []
        for r in requests:
            a = self.answer(r)
            out.append(
                Outcome(None, error=a, raw="???") if isinstance(a, str) else Outcome(a, raw="[[1]]" if a else "[[0]]")
            )
        return out


@dataclass
class FakeStats:
    judge: FakeJudge = field(repr=False)

    def to_dict(self):
        return {"calls": len(self.judge.requests), "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0}
