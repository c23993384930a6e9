"""What the interactive views show, as plain functions over records, verifiers and run folders.

The ipywidgets in :mod:`verif_nb.widgets._widgets` only wire these to controls; a papermill run (no
live kernel) displays the HTML of the same functions for one fixed choice.

Example:
    >>> from verif_nb.data import load_sample
    >>> record = load_sample().records[0]
    >>> list(constraints_frame(record).columns)
    ['#', 'name', 'kind', 'group', 'checked by', 'rule', 'description']
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from verif_nb.data import split_tag
from verif_nb.records import Record

MODES = ("rule", "llm", "llm_all", "hybrid")
COMBINES = ("product", "mean", "weighted", "min")


def record_label(index: int, record: Record) -> str:
    """The line a record gets in a picker: position, id, constraint counts and the prompt's start.

    Example:
        >>> from verif_nb.records import Record
        >>> record_label(0, Record("r1", "Write a haiku about rain, please.", []))
        '0 · r1 · 0 rule / 0 llm · Write a haiku about rain, please.'
    """
    prompt = " ".join(record.prompt.split())
    return (
        f"{index} · {record.id} · {len(record.rule_constraints)} rule / {len(record.llm_constraints)} llm · "
        f"{prompt[:60]}{'…' if len(prompt) > 60 else ''}"
    )


def constraint_label(constraint: Any) -> str:
    """A constraint as the pages name it: one ``[kind]`` tag, then its name without the tag the data gave it.

    Example:
        >>> from verif_nb.records import Constraint
        >>> constraint_label(Constraint("[rule] Length_Constraints", "rule"))
        '[rule] Length_Constraints'
        >>> constraint_label(Constraint("punctuation:no_comma", "rule"))
        '[rule] punctuation:no_comma'
    """
    return f"[{constraint.kind}] {split_tag(constraint.name)[1]}"


def record_text(record: Record, response_chars: int = 400) -> str:
    """A record as plain text: id and source, prompt, each constraint (with its description), and the first
    labelled response with its gold labels (cut at ``response_chars``).

    Example:
        >>> from verif_nb.records import Constraint, Record
        >>> print(record_text(Record("a", "No commas.", [Constraint("[rule] No_Comma", "rule")])))
        === a
        No commas.
          - [rule] No_Comma
    """
    lines = [f"=== {record.id}" + (f"  ({record.source})" if record.source else ""), record.prompt]
    for c in record.constraints:
        lines.append(f"  - {constraint_label(c)}" + (f": {c.description}" if c.description else ""))
    for candidate in record.responses[:1]:
        text = candidate.text[:response_chars] + ("…" if len(candidate.text) > response_chars else "")
        lines.append(f"  response (gold labels {candidate.labels}):\n    " + text.replace("\n", "\n    "))
    return "\n".join(lines)


def _checked_by(c: Any) -> str:
    if c.kind == "llm":
        return "judge"
    return f"built-in {c.checker_id}" if c.checker_id else "dataset code (sandbox)"


def constraints_frame(record: Record) -> pd.DataFrame:
    """One row per constraint: kind, group, how it is checked, its rule code (or checker kwargs), description.

    Example:
        >>> from verif_nb.records import Constraint, Record
        >>> r = Record("a", "p", [Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma")])
        >>> constraints_frame(r).loc[0, "checked by"]
        'built-in punctuation:no_comma'
    """
    rows = []
    for i, c in enumerate(record.constraints):
        rule = c.code if c.code else (str(c.kwargs) if c.kwargs else "")
        rows.append(
            {
                "#": i,
                "name": c.name,
                "kind": c.kind,
                "group": c.group,
                "checked by": _checked_by(c),
                "rule": rule,
                "description": c.description or "",
            }
        )
    return pd.DataFrame(rows, columns=["#", "name", "kind", "group", "checked by", "rule", "description"])


def gold_frame(record: Record) -> pd.DataFrame:
    """The record's labelled candidate responses: one row each, a column per constraint (gold verdict).

    Example:
        >>> from verif_nb.records import Constraint, LabelledResponse, Record
        >>> r = Record("a", "p", [Constraint("c", "llm")], [LabelledResponse("yes", [True], id="r0")])
        >>> float(gold_frame(r).loc[0, "gold score"])
        1.0
    """
    rows = []
    for i, resp in enumerate(record.responses):
        row: dict[str, Any] = {
            "response": resp.id or str(i),
            "gold score": resp.gold_score,
            "text": resp.text[:200] + ("…" if len(resp.text) > 200 else ""),
        }
        for c, label in zip(record.constraints, resp.labels or []):
            row[c.name] = label
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value))  # newlines stay newlines: the cells are white-space: pre-wrap


def _table(frame: pd.DataFrame) -> str:
    """An HTML table of ``frame`` whose cells keep their line breaks and indentation (rule code reads as code;
    pandas' ``to_html`` would show ``\\n``)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    return f"<table class='verif-nb-table'><tr>{head}</tr>{rows}</table>"


_STYLE = (
    "<style>.verif-nb-table{border-collapse:collapse;font-size:13px}.verif-nb-table td,.verif-nb-table th"
    "{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;white-space:pre-wrap}"
    ".vnb-pass{color:#17803d;font-weight:600}.vnb-fail{color:#b3261e;font-weight:600}"
    ".vnb-none{color:#8a6d00;font-weight:600}</style>"
)


def record_html(record: Record) -> str:
    """The record browser's page for one record: prompt, constraints and gold labels.

    Example:
        >>> from verif_nb.records import Record
        >>> "<pre" in record_html(Record("a", "Say hi.", []))
        True
    """
    gold = gold_frame(record)
    return (
        _STYLE + f"<h4>Record {html.escape(record.id)}"
        f"{' (' + html.escape(record.source) + ')' if record.source else ''}</h4>"
        f"<pre style='white-space:pre-wrap'>{html.escape(record.prompt)}</pre>"
        f"<b>Constraints</b>{_table(constraints_frame(record))}"
        + (
            f"<b>Gold labels of the candidate responses</b>{_table(gold)}"
            if len(gold)
            else "<p>No labelled candidate responses.</p>"
        )
    )


@dataclass
class PlaygroundResult:
    """Verdicts and rewards of one response under every mode (and every combination for hybrid)."""

    verdicts: pd.DataFrame
    """one row per (mode, constraint): passed, reason."""
    rewards: pd.DataFrame
    """one row per (mode, combine): reward, rule score, judge score, why there is no reward."""
    skipped: dict[str, str] = field(default_factory=dict)
    """modes that could not run, with the reason (e.g. no judge configured)."""
    constraints: pd.DataFrame | None = None
    """every constraint of the record (#, constraint, kind), also those no mode that ran could check."""


class Playground:
    """Verify one edited response under every verifier mode and every hybrid combination.

    All verifiers share one sandbox pool (dataset rule code runs there, never here) and one judge
    client, whose cache answers a repeated question without a new call. Without a judge only ``rule``
    runs and the others say why. Close it (or use ``with``) to stop the sandbox workers.

    Example:
        >>> from verif_nb.records import Constraint, Record
        >>> rec = Record("a", "No commas.", [Constraint("punctuation:no_comma", "rule",
        ...                                             checker_id="punctuation:no_comma")])
        >>> with Playground() as pg:
        ...     out = pg.evaluate(rec, "no commas here")
        >>> out.rewards.set_index("mode").loc["rule", "reward"], out.skipped["llm"][:14]
        (1.0, 'needs a judge:')
    """

    def __init__(self, judge: Any = None, modes: Sequence[str] = MODES, combines: Sequence[str] = COMBINES):
        from verif_nb.verifier import Verifier

        self._judge_client = None
        if judge is not None:
            from verif_nb.judge import JudgeClient, JudgeConfig

            self._judge_client = JudgeClient(judge) if isinstance(judge, JudgeConfig) else judge
        self._sandbox = None
        self.skipped: dict[str, str] = {}
        self.verifiers: dict[tuple[str, str], Verifier] = {}
        for mode in modes:
            if mode != "rule" and self._judge_client is None:
                self.skipped[mode] = (
                    "needs a judge: set judge_base_url (an OpenAI-compatible server, e.g. "
                    "`verif-nb judge serve`) to see this mode"
                )
                continue
            for combine in combines if mode == "hybrid" else ("-",):
                self.verifiers[(mode, combine)] = Verifier(
                    mode=mode,
                    combine=combine if combine != "-" else "product",
                    judge=self._judge_client,
                    sandbox=self._shared_sandbox(),
                )

    def _shared_sandbox(self) -> Any:
        if self._sandbox is None:
            from verif_nb.sandbox import SandboxPool

            self._sandbox = SandboxPool(workers=1, spares=4)  # a few edits at a time
        return self._sandbox

    def evaluate(self, record: Record, response: str) -> PlaygroundResult:
        """Verdicts per (mode, constraint) and rewards per (mode, combine) for ``response``.

        Example:
            >>> Playground(modes=("rule",)).evaluate(Record("a", "p", []), "x").rewards.loc[0, "reward"] is None
            True
        """
        v_rows, r_rows = [], []
        seen_modes = set()
        for (mode, combine), verifier in self.verifiers.items():
            result = verifier.verify(record, response)
            if mode not in seen_modes:  # verdicts do not depend on the combination
                seen_modes.add(mode)
                for verdict, idx in zip(result.verdicts, result.constraint_indices):
                    c = record.constraints[idx]
                    v_rows.append(
                        {
                            "mode": mode,
                            "#": idx,
                            "constraint": c.name,
                            "kind": c.kind,
                            "verdict": _verdict_word(verdict.passed),
                            "reason": verdict.reason or verdict.error or "",
                        }
                    )
            r_rows.append(
                {
                    "mode": mode,
                    "combine": combine,
                    "reward": result.reward,
                    "rule score": result.rule_score,
                    "judge score": result.judge_score,
                    "note": result.error or result.policy or "",
                }
            )
        for mode, why in self.skipped.items():
            r_rows.append(
                {"mode": mode, "combine": "-", "reward": None, "rule score": None, "judge score": None, "note": why}
            )
        verdicts = pd.DataFrame(v_rows, columns=["mode", "#", "constraint", "kind", "verdict", "reason"])
        rewards = pd.DataFrame(r_rows, columns=["mode", "combine", "reward", "rule score", "judge score", "note"])
        constraints = pd.DataFrame(
            [{"#": i, "constraint": c.name, "kind": c.kind} for i, c in enumerate(record.constraints)],
            columns=["#", "constraint", "kind"],
        )
        return PlaygroundResult(
            verdicts=verdicts,
            rewards=rewards.astype({"reward": object}),
            skipped=dict(self.skipped),
            constraints=constraints,
        )

    def close(self) -> None:
        """Stop the shared sandbox workers."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> Playground:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _verdict_word(passed: bool | None) -> str:
    return {True: "pass", False: "fail"}.get(passed, "could not verify")


def _unchecked(mode: str, kind: str) -> str:
    """Why ``mode`` gives no verdict for a constraint of ``kind``."""
    if mode == "rule":
        return "rule mode checks hard constraints only"
    if mode == "llm":
        return "llm mode checks soft constraints only"
    return "not checked in this mode"


def playground_html(result: PlaygroundResult) -> str:
    """The playground's output: a verdict table (a row per constraint of the record, a column per mode that ran)
    and the reward table. A constraint no mode that ran could check is listed too, saying why (a soft constraint
    without a judge), never left out.

    Example:
        >>> r = PlaygroundResult(pd.DataFrame([{"mode": "rule", "#": 0, "constraint": "c", "kind": "rule",
        ...                                     "verdict": "pass", "reason": "ok"}]),
        ...                      pd.DataFrame([{"mode": "rule", "combine": "-", "reward": 1.0}]),
        ...                      skipped={"llm": "needs a judge"},
        ...                      constraints=pd.DataFrame({"#": [0, 1], "constraint": ["c", "[llm] Tone"],
        ...                                                "kind": ["rule", "llm"]}))
        >>> page = playground_html(r)
        >>> "vnb-pass" in page, "[llm] Tone" in page, "not verified here: needs a judge" in page
        (True, True, True)
    """
    css = {"pass": "vnb-pass", "fail": "vnb-fail", "could not verify": "vnb-none"}
    modes = _modes(result)
    constraints = result.constraints
    if constraints is None:  # a result built by hand: the constraints its verdicts name
        constraints = result.verdicts[["#", "constraint", "kind"]].drop_duplicates("#")
    by_cell = {(r.mode, r[1]): r for r in result.verdicts.itertuples(index=False)}
    judge_missing = "; ".join(sorted(set(result.skipped.values())))
    rows = []
    for idx, name, kind in constraints.sort_values("#").itertuples(index=False):
        tds = []
        for m in modes:
            verdict = by_cell.get((m, idx))
            if verdict is None:
                tds.append(f"<td class='vnb-unchecked'>{html.escape(_unchecked(m, kind))}</td>")
                continue
            tds.append(
                f"<td class='vnb-verdict' data-mode='{m}' data-constraint='{idx}'><span class='{css[verdict.verdict]}'>"
                f"{verdict.verdict}</span>: {html.escape(verdict.reason)}</td>"
            )
        if not any((m, idx) in by_cell for m in modes):
            why = f"not verified here: {judge_missing}" if judge_missing else "no mode that ran checks it"
            span = max(len(modes), 1)
            tds = [f"<td class='vnb-unchecked' colspan='{span}'><span class='vnb-none'>{html.escape(why)}</span></td>"]
        rows.append(f"<tr><td>{idx}</td><td>{html.escape(str(name))}</td><td>{kind}</td>{''.join(tds)}</tr>")
    head = "".join(f"<th>{m}</th>" for m in modes)
    verdicts = (
        f"<table class='verif-nb-table'><tr><th>#</th><th>constraint</th><th>kind</th>{head}</tr>"
        + "".join(rows)
        + "</table>"
    )
    rewards = result.rewards.copy()
    rewards["reward"] = rewards["reward"].map(lambda v: "None (no reward)" if v is None or v != v else f"{v:.3f}")
    return _STYLE + "<b>Verdicts</b>" + verdicts + "<b>Reward per mode and combination</b>" + _table(rewards)


def _modes(result: PlaygroundResult) -> list[str]:
    return list(dict.fromkeys(result.verdicts["mode"]))


def run_choices(outputs_root: str | Path = "outputs") -> list[tuple[str, str]]:
    """``(label, path)`` for every run folder under ``outputs_root``, newest first.

    Example:
        >>> run_choices("/nonexistent")
        []
    """
    from verif_nb.report import find_runs, read_manifest

    out = []
    for run in reversed(find_runs(outputs_root)):
        manifest = read_manifest(run)
        out.append((f"{run.name} ({manifest.get('status', '?')})", str(run)))
    return out


def compare_runs(run_a: str | Path, run_b: str | Path) -> pd.DataFrame:
    """The headline numbers of two runs side by side, with their difference (b - a).

    Example:
        >>> list(compare_runs("/nonexistent/a", "/nonexistent/b").columns)
        ['notebook', 'metric', 'a', 'b', 'b - a']
    """
    from verif_nb.report import summary_table

    def numbers(run: str | Path) -> pd.DataFrame:
        t = summary_table(run)
        numeric = t["value"].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).astype(bool)
        return t.loc[numeric]

    a, b = numbers(run_a), numbers(run_b)
    merged = a.merge(b, on=["notebook", "metric"], how="outer", suffixes=(" a", " b"))
    merged = merged.rename(columns={"value a": "a", "value b": "b"})
    merged["a"] = pd.to_numeric(merged["a"], errors="coerce")
    merged["b"] = pd.to_numeric(merged["b"], errors="coerce")
    merged["b - a"] = merged["b"] - merged["a"]
    return merged[["notebook", "metric", "a", "b", "b - a"]].sort_values(["notebook", "metric"], ignore_index=True)


def run_figures(run: str | Path) -> dict[str, Path]:
    """The PNG figures of a run: ``{"<notebook>/<name>": path}``.

    Example:
        >>> run_figures("/nonexistent")
        {}
    """
    root = Path(run) / "figures"
    if not root.is_dir():
        return {}
    return {f"{p.parent.name}/{p.stem}": p for p in sorted(root.glob("*/*.png"))}


def comparison_html(run_a: str | Path, run_b: str | Path, max_figures: int = 40) -> str:
    """Two runs side by side: their headline numbers, then each figure both have, a beside b.

    Example:
        >>> "Headline numbers" in comparison_html("/nonexistent/a", "/nonexistent/b")
        True
    """

    def img(path: Path | None) -> str:
        if path is None:
            return "<td>(not in this run)</td>"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"<td><img style='max-width:100%' src='data:image/png;base64,{data}'></td>"

    fa, fb = run_figures(run_a), run_figures(run_b)
    names = [n for n in dict.fromkeys([*fa, *fb])][:max_figures]
    figs = "".join(
        f"<tr><th colspan=2>{html.escape(n)}</th></tr><tr>{img(fa.get(n))}{img(fb.get(n))}</tr>" for n in names
    )
    return (
        _STYLE + f"<p>a = <code>{html.escape(Path(run_a).name)}</code>, "
        f"b = <code>{html.escape(Path(run_b).name)}</code></p><b>Headline numbers</b>"
        + _table(compare_runs(run_a, run_b).round(4))
        + (f"<b>Figures</b><table style='width:100%;table-layout:fixed'>{figs}</table>" if names else "")
    )
