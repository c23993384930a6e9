"""GSM8K (Cobbe et al. 2021) as a general-ability check: a fixed packaged subset and an exact-match scorer.

Gold is the number after the last ``####`` of the reference solution; the prediction is the last number in
the model's answer. Both go through :func:`normalize_number` (commas, ``$``, ``%``, trailing ``.0``) and are
compared as decimals, so ``$1,234.00`` matches ``1234``.

Example:
    >>> gsm8k_gold("She makes 9 * 2 = $<<9*2=18>>18 a day.\\n#### 18")
    '18'
    >>> extract_last_number("So she earns $18.00 every day.")
    '18'
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError
from verif_nb.files import read_jsonl_numbered

GSM8K_DIR = Path(__file__).resolve().parents[1] / "data" / "gsm8k"
PACKAGED_GSM8K = GSM8K_DIR / "test_subset200.jsonl"
SUBSET_SIZE = 200
SUBSET_SEED = 0
GSM8K_TEST_SIZE = 1319

# The same wording for every model: GSM8K is scored zero-shot on the last number, so the prompt asks
# for the answer last; a model that follows that gets a fair reading.
GSM8K_SUFFIX = "\nWork it out step by step, then give the final answer as a number on the last line."

# A number: thousands groups (1,234,567.5), a plain number (1234.5, 0.25), or a bare fraction part (.5).
# The sign counts only where it is not a hyphen inside a word or an expression ("2-year", "5-3").
_NUMBER = re.compile(r"(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")


def normalize_number(text: str) -> str | None:
    """A number as a canonical string (no ``$``, commas, ``%``, trailing zeros or ``.``), or None.

    Example:
        >>> [normalize_number(t) for t in ["$1,234.00", "18.", "-0.50", "7%", "abc"]]
        ['1234', '18', '-0.5', '7', None]
    """
    cleaned = text.strip().replace(",", "").replace("$", "").replace(" ", "").rstrip(".%")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))  # int() also turns -0 into 0
    return format(value.normalize(), "f")


def extract_last_number(response: str) -> str | None:
    """The last number in a model's answer, normalised; None when it has no number.

    Example:
        >>> extract_last_number("3 + 4 = 7, so the total is 1,007 dollars.")
        '1007'
        >>> extract_last_number("I do not know.") is None
        True
    """
    found = _NUMBER.findall(response)
    return normalize_number(found[-1]) if found else None


def gsm8k_gold(answer: str) -> str:
    """The final number of a GSM8K reference solution (after the last ``####``), normalised.

    Example:
        >>> gsm8k_gold("... #### 1,000")
        '1000'
    """
    head, sep, tail = answer.rpartition("####")
    gold = normalize_number(tail) if sep else None
    if gold is None:
        raise ValueError(f"no number after '####' in the reference answer {answer[-60:]!r}")
    return gold


def gsm8k_prompt(question: str) -> str:
    """The user message sent for one GSM8K question (the question, then where to put the answer).

    Example:
        >>> gsm8k_prompt("What is 2 + 2?").splitlines()[0]
        'What is 2 + 2?'
    """
    return question + GSM8K_SUFFIX


@dataclass(frozen=True)
class GSM8KVerdict:
    """One scored answer: the gold and predicted numbers and whether they match.

    Example:
        >>> GSM8KVerdict("18", "18", True).reason
        'answer 18 equals the gold 18'
    """

    gold: str
    predicted: str | None
    correct: bool

    @property
    def reason(self) -> str:
        if self.predicted is None:
            return f"no number in the answer; gold {self.gold}"
        verb = "equals" if self.correct else "differs from"
        return f"answer {self.predicted} {verb} the gold {self.gold}"


def score_gsm8k_answer(response: str, reference_answer: str) -> GSM8KVerdict:
    """Exact match of the response's last number against the reference's final number.

    Example:
        >>> score_gsm8k_answer("The answer is $18.", "#### 18").correct
        True
        >>> score_gsm8k_answer("Maybe 17 or 18? I'd say 17.", "#### 18").reason
        'answer 17 differs from the gold 18'
    """
    gold = gsm8k_gold(reference_answer)
    predicted = extract_last_number(response)
    return GSM8KVerdict(gold, predicted, predicted is not None and Decimal(predicted) == Decimal(gold))


def read_gsm8k(path: str | os.PathLike) -> list[dict[str, Any]]:
    """GSM8K rows (``question``, ``answer``, plus ``index`` where present) from a JSONL file.

    Raises DataError naming the file, line and field for a malformed row.

    Example:
        >>> len(read_gsm8k(PACKAGED_GSM8K))
        200
    """
    rows = []
    for number, row in read_jsonl_numbered(path, "GSM8K"):
        for name in ("question", "answer"):
            if not isinstance(row.get(name), str):
                raise DataError(str(path), number, name, "missing or not a string")
        try:
            gsm8k_gold(row["answer"])
        except ValueError as err:
            raise DataError(str(path), number, "answer", str(err)) from None
        rows.append(row)
    return rows


def gsm8k_problems(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The GSM8K problems evaluated: the packaged 200-problem subset, or any GSM8K-format file.

    Example:
        >>> gsm8k_problems()[0]["index"]
        2
    """
    return read_gsm8k(path or PACKAGED_GSM8K)


def build_gsm8k_subset(
    test_jsonl: str | os.PathLike, out: str | os.PathLike, size: int = SUBSET_SIZE, seed: int = SUBSET_SEED
) -> Path:
    """Write the packaged subset: ``size`` problems of GSM8K's test file drawn with ``random.Random(seed)``.

    Rows keep the original ``question`` and ``answer`` and gain ``index`` (the 0-based line in the test
    file), in test-file order. The shipped file is this function's output for the defaults (a test checks
    it against ``../shared/data/gsm8k/test.jsonl``).

    Example:
        >>> build_gsm8k_subset("../shared/data/gsm8k/test.jsonl", "/tmp/gsm8k200.jsonl")  # doctest: +SKIP
    """
    rows = read_gsm8k(test_jsonl)
    chosen = sorted(random.Random(seed).sample(range(len(rows)), size))
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        for index in chosen:
            row = {"index": index, "question": rows[index]["question"], "answer": rows[index]["answer"]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target


def gsm8k_accuracy(responses: Sequence[str], problems: Iterable[dict[str, Any]]) -> tuple[float, list[GSM8KVerdict]]:
    """Exact-match accuracy in percent and one verdict per problem (responses in problem order).

    Example:
        >>> acc, verdicts = gsm8k_accuracy(["It is 18.", "2"], [{"answer": "#### 18"}, {"answer": "#### 3"}])
        >>> acc, [v.correct for v in verdicts]
        (50.0, [True, False])
    """
    problems = list(problems)
    if len(responses) != len(problems):
        raise ValueError(f"{len(responses)} responses for {len(problems)} problems")
    verdicts = [score_gsm8k_answer(r, p["answer"]) for r, p in zip(responses, problems)]
    accuracy = round(100.0 * sum(v.correct for v in verdicts) / len(verdicts), 2) if verdicts else float("nan")
    return accuracy, verdicts


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (recorded with evaluation results so a subset is identifiable).

    Example:
        >>> len(file_sha256(PACKAGED_GSM8K))
        64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
