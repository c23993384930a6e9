"""``run_eval``: several models on several benchmarks, one table with paired significance tests.

The first model is the baseline ("before"); every other model's row carries its difference to it, a
paired bootstrap 95% interval of that difference (prompts resampled, seeded), and for prompt-level
metrics the exact McNemar p-value, which decides "significant" there (the interval decides elsewhere).
With ``samples=K > 1`` the main rows score each prompt's first sample and extra ``<metric> pass@k`` rows
give the unbiased pass@k for k = 1..K.

Example:
    >>> report = run_eval({"before": "tiny", "after": "tiny:1"}, ["gsm8k"], limit=2,
    ...                   max_new_tokens=4, progress=False)  # doctest: +SKIP
    >>> list(report.table["model"])  # doctest: +SKIP
    ['before', 'after']
"""

from __future__ import annotations

import json
import logging
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError, RunExistsError
from verif_nb.evaluation._bench import BENCHMARKS, METRICS, BenchItems, MetricScores, load_benchmark, score_items
from verif_nb.evaluation._generate import Generation, SamplingConfig, make_engine
from verif_nb.evaluation.stats import mcnemar_exact, paired_bootstrap_ci, pass_at_k
from verif_nb.files import check_output_dir

log = logging.getLogger(__name__)

TABLE_FILES = ("eval_table.csv", "eval_table.md", "eval.json")
TABLE_COLUMNS = [
    "benchmark",
    "metric",
    "model",
    "baseline",
    "n",
    "units",
    "subset",
    "decoding",
    "score",
    "baseline_score",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    "significant",
    "tokens_per_s",
    "prompts_per_s",
]


@dataclass
class EvalReport:
    """The comparison table (one row per benchmark, metric and model), generation throughput, the setup.

    Example:
        >>> import pandas as pd
        >>> EvalReport(pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(), {}).to_markdown().count("|") > 10
        True
    """

    table: Any  # pandas.DataFrame with TABLE_COLUMNS
    throughput: Any  # pandas.DataFrame: one row per model and benchmark
    setup: dict[str, Any]
    responses: dict[str, dict[str, list[list[str]]]] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The table as GitHub markdown: score, difference with its 95% CI, McNemar p, verdict.

        Example:
            >>> import pandas as pd
            >>> header = EvalReport(pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(), {}).to_markdown()
            >>> header.splitlines()[0].split(" | ")[5:10]
            ['score', 'Δ vs baseline', '95% CI of Δ', 'p (McNemar)', 'real?']
        """
        head = [
            "benchmark",
            "metric",
            "model",
            "n",
            "subset",
            "score",
            "Δ vs baseline",
            "95% CI of Δ",
            "p (McNemar)",
            "real?",
            "tokens/s",
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for r in self.table.to_dict("records"):
            is_base = r["model"] == r["baseline"]
            n = f"{r['n']}" + (f" ({r['units']} instr.)" if r["units"] and r["units"] != r["n"] else "")
            cells = [
                r["benchmark"],
                r["metric"],
                r["model"],
                n,
                r["subset"],
                _fmt(r["score"]),
                "baseline" if is_base else _fmt(r["difference"], signed=True),
                "" if is_base else f"[{_fmt(r['ci_low'], signed=True)}, {_fmt(r['ci_high'], signed=True)}]",
                "" if _missing(r["p_value"]) else f"{r['p_value']:.3g}",
                "" if is_base else _verdict(r),
                _fmt(r["tokens_per_s"], digits=1),
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Setup, table rows and throughput rows as JSON-ready data (NaN as null).

        Example:
            >>> import pandas as pd
            >>> sorted(EvalReport(pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(), {"a": 1}).to_dict())
            ['setup', 'table', 'throughput']
        """
        return {"setup": self.setup, "table": _records(self.table), "throughput": _records(self.throughput)}

    def write(self, out_dir: str | Path, force: bool = False) -> list[Path]:
        """Write ``eval_table.csv``, ``eval_table.md`` and ``eval.json`` (and keep them together).

        Example:
            >>> import pandas as pd, tempfile
            >>> r = EvalReport(pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(), {})
            >>> [p.name for p in r.write(tempfile.mkdtemp())]
            ['eval_table.csv', 'eval_table.md', 'eval.json']
        """
        out = Path(out_dir)
        paths = [out / name for name in TABLE_FILES]
        existing = [p for p in paths if p.exists()]
        if existing and not force:
            raise RunExistsError(f"{existing[0]} exists; choose another --out or pass --force to replace it")
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(paths[0], index=False)
        header = _markdown_header(self.setup)
        paths[1].write_text(header + self.to_markdown(), encoding="utf-8")
        paths[2].write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        return paths


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any, signed: bool = False, digits: int = 2) -> str:
    if _missing(value):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _verdict(row: Mapping[str, Any]) -> str:
    if _missing(row["difference"]):
        return ""
    if not row["significant"]:
        return "no significant change"
    return "yes: " + ("higher" if row["difference"] > 0 else "lower")


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    return [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _markdown_header(setup: Mapping[str, Any]) -> str:
    models = ", ".join(f"{k} = `{v}`" for k, v in setup.get("models", {}).items())
    return (
        f"# Evaluation: {', '.join(setup.get('benchmarks', []))}\n\n"
        f"Models: {models}. Baseline: `{setup.get('baseline')}`. Engine: {setup.get('engine')}, "
        f"decoding: {setup.get('decoding')}, max {setup.get('max_new_tokens')} new tokens. "
        f"Subset seed {setup.get('seed')}; bootstrap: {setup.get('resamples')} resamples of prompts, seed "
        f'{setup.get("seed")}. Scores in percent; differences in percentage points. "real?" is the exact '
        f'McNemar test (p < 0.05) for prompt-level metrics and "the 95% bootstrap CI excludes 0" for the '
        f"others. {setup.get('machine', '')}, {setup.get('date', '')}.\n\n" + _approximate_note(setup)
    )


def _approximate_note(setup: Mapping[str, Any]) -> str:
    notes = []
    for where, checks in (setup.get("approximate_checks") or {}).items():
        for checker, info in checks.items():
            notes.append(f"- {where}: `{checker}`, {info.get('checks')} check(s) approximate: {info.get('why')}")
    return (
        (
            "Scored without the reference's exact resources (verdicts may differ from the original):\n"
            + "\n".join(notes)
            + "\n\n"
        )
        if notes
        else ""
    )


def _compare(base: MetricScores, other: MetricScores, resamples: int, seed: int) -> dict[str, Any]:
    ci = paired_bootstrap_ci(base.values, other.values, base.counts, resamples=resamples, seed=seed)
    row = {
        "difference": round(100 * ci.difference, 2),
        "ci_low": round(100 * ci.low, 2),
        "ci_high": round(100 * ci.high, 2),
        "p_value": float("nan"),
        "test": "paired bootstrap 95% CI",
        "significant": ci.significant,
    }
    if base.kind == "prompt" and all(v in (0.0, 1.0) for v in base.values + other.values):
        test = mcnemar_exact([v == 1.0 for v in base.values], [v == 1.0 for v in other.values])
        row.update(p_value=test.p_value, test="exact McNemar", significant=test.significant)
    return row


def _pass_at_k_scores(per_sample: list[dict[str, MetricScores]], metric: str, k: int) -> MetricScores:
    samples = len(per_sample)
    n_items = len(per_sample[0][metric].values)
    correct = [sum(int(per_sample[s][metric].values[i] == 1.0) for s in range(samples)) for i in range(n_items)]
    return MetricScores("pass@k", [pass_at_k(samples, c, k) for c in correct])


def run_eval(
    models: Mapping[str, str],
    benchmarks: Sequence[str],
    limit: int | None = None,
    seed: int = 0,
    samples: int = 1,
    temperature: float | None = None,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    engine: str = "transformers",
    inputs: Mapping[str, str] | None = None,
    system_prompt: str | None = None,
    resamples: int = 10_000,
    progress: bool = True,
    engine_factory: Callable[..., Any] | None = None,
    engine_options: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    force: bool = False,
    groups: Sequence[str] | None = None,
    sampling: SamplingConfig | None = None,
) -> EvalReport:
    """Answer each benchmark's (sampled) items with every model, score, and compare with the first model.

    ``models`` is ``{name: source}`` (any source :func:`verif_nb.train.models.resolve_model` takes; the
    first is the baseline). ``limit`` keeps a seeded sample of each benchmark, the same for every model;
    ``groups`` keeps only IFEval/IFBench prompts whose instructions all belong to those groups.
    ``engine_factory(engine, source, **options)`` builds the generator (default :func:`make_engine`).
    ``sampling``, a ready :class:`SamplingConfig`, replaces ``samples``/``temperature``/``top_p``/
    ``max_new_tokens`` (and its seed is the sampling's; ``seed`` still draws the sample and the bootstrap).
    With ``out_dir`` the table files, each model's responses and the IFEval-format verdict files are
    written there.

    Example:
        >>> run_eval({"before": "tiny", "after": "tiny:1"}, ["ifeval", "gsm8k"], limit=5,
        ...          max_new_tokens=16, out_dir="outputs/eval-demo")  # doctest: +SKIP
    """
    import pandas as pd

    if not models:
        raise ParamsError("no models to evaluate; pass at least one --model")
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown or not benchmarks:
        raise ParamsError(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    if out_dir is not None:
        check_output_dir(out_dir, TABLE_FILES, {f"--input {b}": path for b, path in (inputs or {}).items()})
    if out_dir is not None and not force:
        for name in TABLE_FILES:
            if (Path(out_dir) / name).exists():
                raise RunExistsError(f"{Path(out_dir) / name} exists; choose another --out or pass --force")
    config = sampling or SamplingConfig(
        max_new_tokens=max_new_tokens, samples=samples, temperature=temperature, top_p=top_p, seed=seed
    )
    inputs = dict(inputs or {})
    items: dict[str, BenchItems] = {b: load_benchmark(b, limit, seed, inputs.get(b), groups) for b in benchmarks}
    if "ifbench" in items:
        from verif_nb.evaluation._bench import ifbench_available

        ok, reason = ifbench_available()
        if not ok:  # fail before any model is loaded, not after an hour of generation
            raise ParamsError(f"cannot evaluate ifbench: {reason}")
    factory = engine_factory or make_engine
    names = list(models)
    baseline = names[0]
    scores: dict[str, dict[str, list[dict[str, MetricScores]]]] = {b: {} for b in benchmarks}
    responses: dict[str, dict[str, list[list[str]]]] = {b: {} for b in benchmarks}
    throughput = []
    approximate: dict[str, Any] = {}
    for name in names:
        generator = factory(
            engine,
            models[name],
            batch_size=batch_size,
            system_prompt=system_prompt,
            progress=progress,
            seed=seed,
            **dict(engine_options or {}),
        )
        try:
            for bench, bench_items in items.items():
                gen: Generation = generator.generate(bench_items.prompts, config, desc=f"{bench} {name}")
                line = (
                    f"{bench} {name}: {bench_items.n} prompts x {samples}, {gen.new_tokens} new tokens in "
                    f"{gen.seconds:.1f} s = {gen.tokens_per_s:.1f} tokens/s, {gen.prompts_per_s:.2f} prompts/s"
                )
                print(line, flush=True)
                throughput.append(
                    {
                        "model": name,
                        "benchmark": bench,
                        "engine": engine,
                        "prompts": bench_items.n,
                        "samples": samples,
                        "new_tokens": gen.new_tokens,
                        "seconds": round(gen.seconds, 3),
                        "tokens_per_s": round(gen.tokens_per_s, 2),
                        "prompts_per_s": round(gen.prompts_per_s, 4),
                        "batch_size": batch_size,
                    }
                )
                responses[bench][name] = gen.responses
                per_sample = []
                for s in range(samples):
                    metric_scores, detail = score_items(bench_items, [r[s] for r in gen.responses])
                    per_sample.append(metric_scores)
                    if out_dir is not None and s == 0:
                        _write_responses(Path(out_dir) / bench / name, bench_items, gen.responses, detail)
                    if s == 0 and hasattr(detail, "approximate_checks"):
                        # IFBench checks scored without the reference's exact resources (e.g. a POS tagger)
                        approximate[f"{bench}/{name}"] = detail.approximate_checks()
                scores[bench][name] = per_sample
        finally:
            generator.close()

    speed = {(t["model"], t["benchmark"]): t for t in throughput}
    rows = []
    for bench, bench_items in items.items():
        metrics = [(m, kind) for m, kind in METRICS[bench]]
        if samples > 1:
            metrics += [
                (f"{m} pass@{k}", "pass@k")
                for m, kind in METRICS[bench]
                if kind != "instruction"
                for k in range(1, samples + 1)
            ]
        for metric, kind in metrics:
            for name in names:
                mine = _metric(scores[bench][name], metric)
                base = _metric(scores[bench][baseline], metric)
                row = {
                    "benchmark": bench,
                    "metric": metric,
                    "model": name,
                    "baseline": baseline,
                    "n": bench_items.n,
                    "units": int(sum(mine.counts)) if mine.counts else bench_items.n,
                    "subset": bench_items.subset,
                    "decoding": config.describe()
                    if kind == "pass@k" or samples == 1
                    else f"first of {config.describe()}",
                    "score": mine.percent,
                    "baseline_score": base.percent,
                    "difference": float("nan"),
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "p_value": float("nan"),
                    "test": "",
                    "significant": None,
                    "tokens_per_s": speed[(name, bench)]["tokens_per_s"],
                    "prompts_per_s": speed[(name, bench)]["prompts_per_s"],
                }
                if name != baseline:
                    row.update(_compare(base, mine, resamples, seed))
                rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    setup = {
        "models": dict(models),
        "baseline": baseline,
        "benchmarks": list(benchmarks),
        "subsets": {b: i.subset for b, i in items.items()},
        "indices": {b: i.indices for b, i in items.items()},
        "seed": seed,
        "limit": limit,
        "engine": engine,
        "decoding": config.describe(),
        **config.to_dict(),
        "batch_size": batch_size,
        "resamples": resamples,
        "system_prompt": system_prompt,
        "approximate_checks": approximate,
        "machine": f"{platform.machine()} {platform.system()}, {_cpu_count()} CPU cores",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    report = EvalReport(table, pd.DataFrame(throughput), setup, responses)
    if out_dir is not None:
        report.write(out_dir, force=True)
    return report


def _metric(per_sample: list[dict[str, MetricScores]], metric: str) -> MetricScores:
    if " pass@" in metric:
        base, _, k = metric.rpartition(" pass@")
        return _pass_at_k_scores(per_sample, base, int(k))
    return per_sample[0][metric]


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def _write_responses(target: Path, items: BenchItems, responses: list[list[str]], detail: Any) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "responses.jsonl", "w", encoding="utf-8") as fh:
        for index, row, answers in zip(items.indices, items.rows, responses):
            prompt = row.get("prompt", row.get("question"))
            for s, answer in enumerate(answers):
                fh.write(
                    json.dumps({"index": index, "sample": s, "prompt": prompt, "response": answer}, ensure_ascii=False)
                    + "\n"
                )
    if hasattr(detail, "write"):
        detail.write(target)  # eval_results_strict.jsonl / _loose.jsonl, the reference format
    elif isinstance(detail, list):  # GSM8K verdicts
        with open(target / "verdicts.jsonl", "w", encoding="utf-8") as fh:
            for index, verdict in zip(items.indices, detail):
                fh.write(
                    json.dumps(
                        {
                            "index": index,
                            "gold": verdict.gold,
                            "predicted": verdict.predicted,
                            "correct": verdict.correct,
                            "reason": verdict.reason,
                        }
                    )
                    + "\n"
                )
