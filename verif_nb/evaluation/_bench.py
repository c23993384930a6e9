"""The three benchmarks behind the paper's claims, as items to answer and per-item scores to compare.

* ``ifeval``: IFEval's 541 prompts (instruction following; the gain the paper reports),
* ``ifbench``: IFBench's 300 prompts with 58 constraint types unseen in training (transfer),
* ``gsm8k``: the packaged 200-problem GSM8K subset (general ability should stay where it was).

``--limit N`` keeps a seeded sample of N items (the same for every model); :attr:`BenchItems.subset`
says which, and is written into every table.

Example:
    >>> items = load_benchmark("gsm8k", limit=5, seed=0)
    >>> (len(items.prompts), items.subset)
    (5, 'gsm8k-200 (packaged): 5 of 200, seed 0')
"""

from __future__ import annotations

import importlib.util
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError, ParamsError
from verif_nb.files import read_jsonl

BENCHMARKS = ("ifeval", "ifbench", "gsm8k")
IFEVAL_ENV = "VERIF_NB_IFEVAL_INPUTS"
PACKAGED_IFEVAL_INPUTS = Path(__file__).resolve().parents[1] / "data" / "ifeval" / "input_data.jsonl"
IFBENCH_ENV = "VERIF_NB_IFBENCH_INPUTS"
PACKAGED_IFBENCH_INPUTS = Path(__file__).resolve().parents[1] / "data" / "ifbench" / "IFBench_test.jsonl"

# What each benchmark reports; "prompt" metrics are paired booleans (McNemar), the others are
# accuracies compared with a paired bootstrap over items.
METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "ifeval": (
        ("prompt_strict", "prompt"),
        ("instruction_strict", "instruction"),
        ("prompt_loose", "prompt"),
        ("instruction_loose", "instruction"),
    ),
    "ifbench": (
        ("prompt_strict", "prompt"),
        ("instruction_strict", "instruction"),
        ("prompt_loose", "prompt"),
        ("instruction_loose", "instruction"),
    ),
    "gsm8k": (("accuracy", "accuracy"),),
}


def sample_indices(total: int, limit: int | None, seed: int = 0) -> list[int]:
    """A seeded sample of ``limit`` of ``range(total)`` in ascending order (all of them without a limit).

    Example:
        >>> sample_indices(10, 3, seed=0)
        [0, 6, 9]
        >>> sample_indices(4, None)
        [0, 1, 2, 3]
    """
    if limit is None or limit >= total:
        return list(range(total))
    if limit < 1:
        raise ParamsError(f"limit must be at least 1, not {limit}")
    return sorted(random.Random(seed).sample(range(total), limit))


@dataclass
class BenchItems:
    """The items of one benchmark to answer: prompts (user messages), source rows, which subset.

    Example:
        >>> BenchItems("gsm8k", ["q"], [{}], "all 1", "x").n
        1
    """

    name: str
    prompts: list[str]
    rows: list[dict[str, Any]]
    subset: str
    source: str
    indices: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.prompts)


@dataclass
class MetricScores:
    """Per-item scores of one metric for one model (and one response per item).

    ``values[i]`` is the item's score (1/0 for a prompt or a GSM8K answer, instructions followed for
    instruction level); ``counts[i]`` its weight (instructions in the prompt), 1 when None.

    Example:
        >>> MetricScores("instruction", [2, 1], [2, 3]).percent
        60.0
    """

    kind: str
    values: list[float]
    counts: list[float] | None = None

    @property
    def percent(self) -> float:
        total = sum(self.counts) if self.counts is not None else len(self.values)
        return round(100.0 * sum(self.values) / total, 2) if total else float("nan")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path, "benchmark inputs")


# The PyPI modules of the ``ifbench`` extra that IFBench's checkers load on first use.
IFBENCH_MODULES: tuple[str, ...] = ("emoji", "syllapy", "textblob_aptagger")


def ifbench_available() -> tuple[bool, str]:
    """Whether IFBench can be scored here (the ``ifbench`` extra's packages are installed), and why not.

    Example:
        >>> ok, reason = ifbench_available()
        >>> isinstance(ok, bool) and isinstance(reason, str)
        True
    """
    missing = [name for name in IFBENCH_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return False, f"the IFBench checkers need {', '.join(missing)}: pip install 'verif-nb[ifbench]'"
    return True, ""


def ifeval_inputs(
    path: str | os.PathLike | None = None, limit: int | None = None, groups: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """IFEval input rows (``key, prompt, instruction_id_list, kwargs``), the first ``limit`` of them.

    ``path`` defaults to ``$VERIF_NB_IFEVAL_INPUTS``, then the copy of IFEval's ``input_data.jsonl``
    shipped in the package. ``groups`` keeps prompts whose instructions all belong to those groups.

    Example:
        >>> len(ifeval_inputs(limit=5))
        5
    """
    found = Path(path or os.environ.get(IFEVAL_ENV) or PACKAGED_IFEVAL_INPUTS)
    if not found.is_file():
        raise DataError(
            str(found),
            None,
            None,
            f"IFEval inputs not found; pass inputs=PATH (--inputs) or set ${IFEVAL_ENV} to IFEval's input_data.jsonl",
        )
    rows = read_jsonl(found, "IFEval inputs")
    if groups:
        wanted = set(groups)
        rows = [r for r in rows if all(i.split(":")[0] in wanted for i in r["instruction_id_list"])]
    return rows[:limit] if limit is not None else rows


def _ifbench_inputs_path(path: str | os.PathLike | None) -> Path:
    found = path or os.environ.get(IFBENCH_ENV)
    if found:
        return Path(found)
    if PACKAGED_IFBENCH_INPUTS.is_file():
        return PACKAGED_IFBENCH_INPUTS
    raise DataError(
        None,
        None,
        None,
        f"IFBench inputs not found; pass the path of IFBench_test.jsonl (--ifbench-inputs) or set ${IFBENCH_ENV}",
    )


def load_benchmark(
    name: str,
    limit: int | None = None,
    seed: int = 0,
    inputs: str | os.PathLike | None = None,
    groups: Sequence[str] | None = None,
) -> BenchItems:
    """The (sampled) items of ``ifeval``, ``ifbench`` or ``gsm8k``; ``inputs`` replaces the default file;
    ``groups`` keeps the IFEval/IFBench prompts whose instructions all belong to those groups (before sampling).

    Example:
        >>> load_benchmark("ifeval", limit=3).subset
        'ifeval (packaged): 3 of 541, seed 0'
    """
    if name == "ifeval":
        path = Path(inputs or os.environ.get(IFEVAL_ENV) or PACKAGED_IFEVAL_INPUTS)
        rows = ifeval_inputs(path)
        label = "ifeval (packaged)" if path == PACKAGED_IFEVAL_INPUTS else f"ifeval ({path.name})"
    elif name == "ifbench":
        path = _ifbench_inputs_path(inputs)
        if not path.is_file():
            raise DataError(str(path), None, None, "IFBench inputs file not found")
        rows = _read_rows(path)
        label = f"ifbench ({path.name})"
    elif name == "gsm8k":
        from verif_nb.evaluation._gsm8k import PACKAGED_GSM8K, gsm8k_problems

        path = Path(inputs or PACKAGED_GSM8K)
        rows = gsm8k_problems(path)
        label = "gsm8k-200 (packaged)" if path == PACKAGED_GSM8K else f"gsm8k ({path.name})"
    else:
        raise ParamsError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    if groups and name != "gsm8k":
        wanted = set(groups)
        rows = [r for r in rows if all(i.split(":")[0] in wanted for i in r.get("instruction_id_list", []))]
        label += f" in groups {', '.join(sorted(wanted))}"
    indices = sample_indices(len(rows), limit, seed)
    chosen = [rows[i] for i in indices]
    prompts = [_prompt(name, row, str(path), i + 1) for row, i in zip(chosen, indices)]
    subset = (
        f"{label}: all {len(rows)}"
        if len(indices) == len(rows)
        else f"{label}: {len(indices)} of {len(rows)}, seed {seed}"
    )
    return BenchItems(name, prompts, chosen, subset, str(path), indices)


def _prompt(name: str, row: dict[str, Any], origin: str, line: int) -> str:
    if name == "gsm8k":
        from verif_nb.evaluation._gsm8k import gsm8k_prompt

        return gsm8k_prompt(row["question"])
    if not isinstance(row.get("prompt"), str):
        raise DataError(origin, line, "prompt", "missing or not a string")
    return row["prompt"]


def _instruction_scores(scores: Any) -> dict[str, MetricScores]:
    """Per-prompt metrics from an IFEval-shaped result (``strict_rows`` / ``loose_rows``)."""
    out = {}
    for mode, rows in (("strict", scores.strict_rows), ("loose", scores.loose_rows)):
        out[f"prompt_{mode}"] = MetricScores("prompt", [float(r["follow_all_instructions"]) for r in rows])
        out[f"instruction_{mode}"] = MetricScores(
            "instruction",
            [float(sum(r["follow_instruction_list"])) for r in rows],
            [float(len(r["follow_instruction_list"])) for r in rows],
        )
    return out


def score_items(items: BenchItems, answers: Sequence[str]) -> tuple[dict[str, MetricScores], Any]:
    """Per-item scores of one response per item, and the scorer's detailed result (for writing).

    Example:
        >>> items = load_benchmark("gsm8k", limit=2)
        >>> scores, _ = score_items(items, ["#### " + r["answer"].rpartition("#")[2] for r in items.rows])
        >>> scores["accuracy"].percent
        100.0
    """
    if len(answers) != items.n:
        raise ValueError(f"{len(answers)} answers for {items.n} {items.name} items")
    if items.name == "gsm8k":
        from verif_nb.evaluation._gsm8k import gsm8k_accuracy

        _, verdicts = gsm8k_accuracy(list(answers), items.rows)
        return {"accuracy": MetricScores("accuracy", [float(v.correct) for v in verdicts])}, verdicts
    responses = [{"prompt": row["prompt"], "response": a} for row, a in zip(items.rows, answers)]
    from verif_nb.checkers import score_ifbench, score_ifeval

    if items.name == "ifbench":
        ok, reason = ifbench_available()
        if not ok:
            raise ParamsError(f"cannot score ifbench: {reason}")
    detail = (score_ifeval if items.name == "ifeval" else score_ifbench)(items.rows, responses)
    return _instruction_scores(detail), detail
