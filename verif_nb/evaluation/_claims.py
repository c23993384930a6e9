"""The paper's three claims side by side: IF gain (IFEval), transfer to unseen constraints (IFBench), general
ability unchanged (GSM8K), each as a before/after difference with its 95% interval, and the paper's own
figures for the same model family beside them where the paper gives them.

Example:
    >>> [c.claim for c in CLAIMS]
    ['IF gain', 'transfer to unseen constraints', 'general ability unchanged']
    >>> paper_figures("allenai/Llama-3.1-Tulu-3-8B-SFT")[0]["after"]
    84.5
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PAPER = "Peng et al. 2025, arXiv 2506.09942"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the benchmark metric that measures it.

    Example:
        >>> CLAIMS[2].benchmark, CLAIMS[2].metric
        ('gsm8k', 'accuracy')
    """

    claim: str
    benchmark: str
    metric: str
    expectation: str  # what the paper claims the difference is


CLAIMS = (
    Claim("IF gain", "ifeval", "prompt_strict", "higher"),
    Claim("transfer to unseen constraints", "ifbench", "prompt_strict", "higher"),
    Claim("general ability unchanged", "gsm8k", "accuracy", "unchanged"),
)

# Published figures, percent. Only numbers checked against the paper go here; anything else is
# "not given". Table numbers were not checked offline, so none is cited.
# ``variant``: the paper's row; ``before`` is the starting (SFT) model.
PAPER_FIGURES: tuple[dict[str, Any], ...] = (
    {
        "family": "TULU 3 8B SFT",
        "match": "tulu-3-8b-sft",
        "benchmark": "ifeval",
        "metric": "prompt_strict",
        "variant": "VerIF (hybrid: code + LLM)",
        "before": 68.4,
        "after": 84.5,
    },
    {
        "family": "TULU 3 8B SFT",
        "match": "tulu-3-8b-sft",
        "benchmark": "ifeval",
        "metric": "prompt_strict",
        "variant": "w/o LLM verification (rule only)",
        "before": 68.4,
        "after": 74.7,
    },
    {
        "family": "TULU 3 8B SFT",
        "match": "tulu-3-8b-sft",
        "benchmark": "ifeval",
        "metric": "prompt_strict",
        "variant": "w/o code verification (LLM only)",
        "before": 68.4,
        "after": 76.2,
    },
)


def paper_figures(model_source: str | None, variant: str | None = None) -> list[dict[str, Any]]:
    """The paper's figures for the model family of ``model_source`` (a hub id or path), or ``[]``.

    ``variant`` picks rows whose variant starts with it (e.g. ``"VerIF"``); each row carries the citation.

    Example:
        >>> paper_figures("pypi:qwen2.5-coder-0.5b")
        []
        >>> [f["after"] for f in paper_figures("allenai/Llama-3.1-Tulu-3-8B-SFT", "w/o")]
        [74.7, 76.2]
    """
    source = (model_source or "").lower()
    found = [{**f, "source": PAPER} for f in PAPER_FIGURES if f["match"] in source]
    return [f for f in found if variant is None or f["variant"].startswith(variant)]


def _verdict(difference: float | None, significant: bool | None, expectation: str) -> str:
    if difference is None or significant is None:
        return "not measured"
    if not significant:
        change = "no significant change"
        return change + (" (as claimed)" if expectation == "unchanged" else " (gain not shown)")
    direction = "higher" if difference > 0 else "lower"
    agrees = direction == expectation
    return f"significantly {direction}" + (" (as claimed)" if agrees else " (against the claim)")


def claims_table(
    table: Any, after: str | None = None, model_source: str | None = None, skipped: Mapping[str, str] | None = None
) -> Any:
    """One row per claim: measured before/after, difference with its 95% CI and test, the paper's figures.

    ``table`` is :attr:`EvalReport.table` (or its CSV read back); ``after`` the trained model's name (default:
    the first non-baseline model); ``model_source`` the starting model's source, which selects the paper's
    figures for that family; ``skipped`` maps a benchmark that was not run to the reason, shown in the row.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame([{"benchmark": "gsm8k", "metric": "accuracy", "model": m, "baseline": "before",
        ...                    "n": 50, "subset": "s", "score": s, "difference": d, "ci_low": lo, "ci_high": hi,
        ...                    "p_value": float("nan"), "test": "paired bootstrap 95% CI", "significant": sig}
        ...                   for m, s, d, lo, hi, sig in [("before", 40.0, None, None, None, None),
        ...                                                 ("after", 42.0, 2.0, -4.0, 8.0, False)]])
        >>> claims_table(t).set_index("claim").loc["general ability unchanged", "verdict"]
        'no significant change (as claimed)'
    """
    import pandas as pd

    skipped = dict(skipped or {})
    rows = []
    for claim in CLAIMS:
        part = table[(table["benchmark"] == claim.benchmark) & (table["metric"] == claim.metric)]
        base_rows = part[part["model"] == part["baseline"]]
        others = part[part["model"] != part["baseline"]]
        if after is not None:
            others = others[others["model"] == after]
        row: dict[str, Any] = {"claim": claim.claim, "benchmark": claim.benchmark, "metric": claim.metric}
        if base_rows.empty or others.empty:
            reason = skipped.get(claim.benchmark, "not run")
            row.update(
                n=None,
                subset=None,
                before=None,
                after=None,
                difference=None,
                ci_low=None,
                ci_high=None,
                p_value=None,
                test=None,
                verdict=f"not measured: {reason}",
            )
        else:
            b, a = base_rows.iloc[0], others.iloc[0]
            difference = None if pd.isna(a["difference"]) else float(a["difference"])
            significant = None if pd.isna(a["significant"]) else bool(a["significant"])
            row.update(
                n=int(a["n"]),
                subset=a["subset"],
                before=float(b["score"]),
                after=float(a["score"]),
                difference=difference,
                ci_low=float(a["ci_low"]),
                ci_high=float(a["ci_high"]),
                p_value=None if pd.isna(a["p_value"]) else float(a["p_value"]),
                test=a["test"],
                verdict=_verdict(difference, significant, claim.expectation),
            )
        figures = [
            f
            for f in paper_figures(model_source, "VerIF")
            if f["benchmark"] == claim.benchmark and f["metric"] == claim.metric
        ]
        if figures:
            f = figures[0]
            row.update(
                paper_before=f["before"],
                paper_after=f["after"],
                paper_difference=round(f["after"] - f["before"], 2),
                paper_source=f"{f['source']} ({f['family']}, {f['variant']})",
            )
        else:
            row.update(
                paper_before=None,
                paper_after=None,
                paper_difference=None,
                paper_source="not given"
                if model_source and paper_figures(model_source)
                else "no published figure for this model family",
            )
        rows.append(row)
    return pd.DataFrame(rows)


def runnable_benchmarks(
    benchmarks: Sequence[str], inputs: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The benchmarks that can run here, and for each other one the reason it cannot.

    IFBench needs ``verif_nb.checkers`` and its inputs file (``inputs["ifbench"]``,
    ``$VERIF_NB_IFBENCH_INPUTS`` or a packaged copy).

    Example:
        >>> runnable_benchmarks(["gsm8k"])
        (['gsm8k'], {})
    """
    from verif_nb.errors import DataError
    from verif_nb.evaluation._bench import _ifbench_inputs_path, ifbench_available

    run, skipped = [], {}
    for bench in benchmarks:
        if bench == "ifbench":
            ok, reason = ifbench_available()
            if ok:
                try:
                    path = _ifbench_inputs_path((inputs or {}).get("ifbench"))
                    ok, reason = path.is_file(), f"{path} not found"
                except DataError as err:
                    ok, reason = False, err.message
            if not ok:
                skipped[bench] = reason
                continue
        run.append(bench)
    return run, skipped


def measure_claims(
    before: str,
    after: str,
    benchmarks: Sequence[str] = ("ifeval", "ifbench", "gsm8k"),
    limit: int | None = None,
    inputs: Mapping[str, str] | None = None,
    paper_model: str | None = None,
    **run_options: Any,
) -> tuple[Any, Any]:
    """Evaluate ``before`` and ``after`` on the benchmarks that can run here; returns ``(report, claims)``.

    ``paper_model`` (default ``before``) selects the paper's figures; benchmarks that cannot run are
    listed in the claims table with the reason. ``run_options`` go to :func:`verif_nb.evaluation.run_eval`.

    Example:
        >>> report, claims = measure_claims("tiny", "tiny:1", ["gsm8k"], limit=3,
        ...                                 max_new_tokens=4, progress=False)  # doctest: +SKIP
        >>> list(claims["claim"])  # doctest: +SKIP
        ['IF gain', 'transfer to unseen constraints', 'general ability unchanged']
    """
    from verif_nb.evaluation._run import run_eval

    run, skipped = runnable_benchmarks(benchmarks, inputs)
    for bench in {c.benchmark for c in CLAIMS} - set(benchmarks):
        skipped[bench] = "not requested"
    if not run:
        raise ValueError(f"none of {list(benchmarks)} can run here: {skipped}")
    report = run_eval({"before": before, "after": after}, run, limit=limit, inputs=inputs, **run_options)
    report.setup["skipped"] = skipped
    return report, claims_table(report.table, "after", paper_model or before, skipped)


def claims_figure(claims: Any, title: str = "The paper's three claims, measured before -> after"):
    """Difference after - before per claim with its 95% CI (bars), and the paper's difference (diamond).

    Example:
        >>> import pandas as pd
        >>> c = pd.DataFrame([{"claim": "IF gain", "difference": 3.0, "ci_low": 1.0, "ci_high": 5.0,
        ...                    "paper_difference": 16.1, "verdict": "significantly higher (as claimed)"}])
        >>> claims_figure(c).axes[0].get_xlabel()
        'difference after - before (percentage points, 95% CI)'
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.9 * len(claims)))
    labels = []
    for y, row in enumerate(claims.to_dict("records")):
        labels.append(f"{row['claim']}\n" + textwrap.fill(str(row.get("verdict", "")), 36))
        if row.get("difference") is not None and row["difference"] == row["difference"]:
            ax.errorbar(
                row["difference"],
                y,
                xerr=[[row["difference"] - row["ci_low"]], [row["ci_high"] - row["difference"]]],
                fmt="o",
                color="C0",
                capsize=4,
                label="measured (95% CI)",
            )
        paper = row.get("paper_difference")
        if paper is not None and paper == paper:
            ax.plot(paper, y, "D", color="C3", label="paper (Peng et al. 2025)")
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("difference after - before (percentage points, 95% CI)")
    ax.set_title(title)
    handles, names = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig
