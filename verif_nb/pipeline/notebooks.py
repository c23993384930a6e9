"""Each notebook's parameters as a typed schema: one dataclass per notebook, field for field its ``parameters``
cell (name, default, and the cell's comment as help; ``tests/test_notebooks.py`` holds them equal).

The pipeline checks a parameter file's values for a notebook against its schema before anything runs
(:func:`verif_nb.pipeline.load_pipeline_params`), and each notebook builds its schema object from its own variables in
its first code cell, so a value edited by hand in JupyterLab is checked the same way::

    p = GrpoTrainingParams.from_namespace(globals(), where="parameters cell")

Example:
    >>> NOTEBOOK_PARAMS["02_verifier_ablation"].value_problems({"modes": ["rule", "judge"]})
    [('modes', "expected a list (each one of 'rule', 'llm', 'llm_all', 'hybrid'), got ['rule', 'judge'] (list)")]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from verif_nb.data._load import DataFormat
from verif_nb.data._verinstruct import Untagged
from verif_nb.files import project_path
from verif_nb.judge.config import JudgeConfig, JudgeKind, JudgePreset
from verif_nb.settings import Concurrency, Count, NonNegativeInt, Settings, UnitInterval, Workers, option
from verif_nb.verifier.config import (
    Combine,
    InstructionArg,
    JudgeErrorPolicy,
    JudgeGranularity,
    Mode,
    Profile,
    VerifierConfig,
)

if TYPE_CHECKING:
    from verif_nb.train.params import TrainParams

Benchmark = Literal["ifeval", "ifbench", "gsm8k"]
# figures_dir and metrics_dir: text in a parameter file; a Path once the notebook has resolved them, so running its
# first code cell again in a live kernel checks cleanly
Folder = str | Path

_FIGURES = "figures (PNG + SVG); set per run by the pipeline"
_METRICS = "metrics (JSON/CSV); set per run by the pipeline"


class NotebookParams(Settings):
    """Base of the notebooks' schemas (each also declares ``figures_dir`` and ``metrics_dir``, set by the pipeline
    for every run)."""

    def preflight(self) -> list[tuple[str, str]]:
        """Checks that need more than the values (a file they name), run by the pipeline before any notebook:
        ``(field, problem)`` pairs."""
        return []


@dataclass
class DatasetInspectionParams(NotebookParams):
    """``01_dataset_inspection``: records, constraints, rule-function health, the record browser and playground."""

    section = "01_dataset_inspection"

    data: str = option(
        "sample",
        '"sample" (the embedded sample), or a path or HF id: VerInstruct, verl parquet, IFEval/IFBench jsonl',
    )
    data_format: DataFormat = option("auto", "auto | verinstruct | verl | ifeval | ifbench")
    lenient: bool = option(True, "skip bad rows (each listed below with its reason) instead of stopping at the first")
    untagged: Untagged = option("error", "VerInstruct checkers without a [rule]/[llm] tag: error | rule | llm | drop")
    max_records: NonNegativeInt = option(0, "inspect only the first N records ; 0 means all")
    check_rule_functions: bool = option(True, "validate and time every dataset-supplied check_following in the sandbox")
    instruction_arg: InstructionArg = option(
        "literal", 'first argument of check_following: literal ("instruction", as VerIF) | prompt'
    )
    n_examples: NonNegativeInt = option(3, "records shown in full at the end")
    top_groups: Count = option(20, "constraint groups shown in the group chart")
    interactive: bool = option(
        True,
        "live kernel: record browser and playground as widgets; a pipeline run sets False (static HTML)",
    )
    judge_base_url: str = option(
        "",
        "playground: OpenAI-compatible judge for llm/llm_all/hybrid (verif-nb judge serve); empty: rule",
    )
    judge_model: str = option("", "playground: the served judge model name")
    judge_cache_dir: str = option(
        "outputs/judge_cache", "playground: judge answers cached here, so a repeated question costs no call"
    )
    figures_dir: Folder = option("outputs/interactive/figures/01_dataset_inspection", _FIGURES)
    metrics_dir: Folder = option("outputs/interactive/metrics/01_dataset_inspection", _METRICS)


@dataclass
class VerifierAblationParams(NotebookParams):
    """``02_verifier_ablation``: the verifier modes side by side against gold labels."""

    section = "02_verifier_ablation"

    data: str = option("sample", '"sample" (embedded, gold-labelled) or a path to labelled VerInstruct data')
    data_format: DataFormat = option("auto", "auto | verinstruct | verl | ifeval | ifbench")
    max_records: NonNegativeInt = option(0, "use only the first N records; 0 means all")
    profile: Profile = option(
        "default", "default: verif-nb's verifier | reference: exactly VerIF's reward (needs judge_template_file)"
    )
    modes: list[Mode] = option(
        default_factory=lambda: ["rule", "llm", "llm_all", "hybrid"],
        help="verifier modes compared; all but rule need a judge",
    )
    combine: Combine = option("product", "hybrid combination: product | mean | weighted | min")
    rule_weight: UnitInterval = option(0.5, "weight of the rule score when combine is weighted")
    judge: JudgeKind = option(
        "embedded", "embedded: start the PyPI model here | url: use judge_base_url | none: rule mode only"
    )
    judge_preset: JudgePreset = option(
        "embedded-0.5b", "JudgeConfig preset; the judge_* values below override it when non-empty"
    )
    judge_base_url: str = option("", "for judge url: OpenAI-compatible API root ending in /v1")
    judge_model: str = option("", "for judge url: the served model name; empty means the preset's")
    embedded_model: str = option(
        "qwen2.5-coder-0.5b", "for judge embedded: qwen2.5-coder-0.5b | qwen2.5-coder-1.5b | a .gguf path"
    )
    embedded_threads: Workers = option(2, "CPU threads of the embedded llama.cpp server")
    judge_template_file: str = option(
        "", "VerIF's llm_call.py: the reference profile reads its judge prompt there (not shipped)"
    )
    judge_concurrency: Concurrency = option(1, "judge requests in flight; llama.cpp serves one at a time")
    judge_cache_dir: str = option(
        "outputs/judge_cache", "persistent answer cache, so re-runs make no repeat calls; empty disables"
    )
    judge_logprobs: bool = option(
        True,
        "token log-probabilities: P(yes) for the calibrated judge; ~2.5x slower a call on llama.cpp",
    )
    judge_granularity: JudgeGranularity = option(
        "response", "response: one call per response, as VerIF | constraint: one call per constraint"
    )
    on_judge_error: JudgeErrorPolicy = option(
        "none", "reward when the judge fails: none, i.e. reward None | zero | raise"
    )
    calibration_cases: NonNegativeInt = option(
        40, "IFEval hard-constraint cases asked of the judge, balanced; 0 skips calibration"
    )
    probe_records: NonNegativeInt = option(8, "records used for the reward-hacking probes; 0 skips them")
    figures_dir: Folder = option("outputs/interactive/figures/02_verifier_ablation", _FIGURES)
    metrics_dir: Folder = option("outputs/interactive/metrics/02_verifier_ablation", _METRICS)

    def verifier_config(self, mode: Mode, judge: JudgeConfig | None) -> VerifierConfig:
        """The verifier of one compared mode, from these parameters (rule mode gets no judge).

        Example:
            >>> VerifierAblationParams(combine="mean").verifier_config("rule", None).combine
            'mean'
        """
        if judge is not None and self.judge_template_file:
            judge = judge.replace(template_file=self.judge_template_file)
        return VerifierConfig(
            mode=mode,
            profile=self.profile,
            combine=self.combine,
            rule_weight=self.rule_weight,
            judge_granularity=self.judge_granularity,
            on_judge_error=self.on_judge_error,
            judge=judge if mode != "rule" else None,
        )


@dataclass
class GrpoTrainingParams(NotebookParams):
    """``03_grpo_training``: a GRPO run from a training preset, its curves, and before/after evaluations."""

    section = "03_grpo_training"

    train_params: str = option("params/train_cpu_demo.yaml", "training preset, relative to the project root")
    max_steps: NonNegativeInt = option(0, "overrides grpo.max_steps when positive; 0 keeps the preset's")
    model_source: str = option(
        "", "overrides model.source when non-empty: tiny | pypi:qwen2.5-coder-0.5b | a folder | a hub id"
    )
    eval_prompts: NonNegativeInt = option(
        0, "IFEval prompts answered and scored before and after training; 0 skips the comparison"
    )
    heldout_records: NonNegativeInt = option(
        0, "held-out training records answered and verified before and after; 0 skips"
    )
    eval_max_new_tokens: Count = option(128, "answer length limit for both comparisons, in tokens")
    claims_items: NonNegativeInt = option(
        0,
        "items per benchmark (seeded sample, the same for both models) for the three-claims table; 0 skips",
    )
    claims_benchmarks: list[Benchmark] = option(
        default_factory=lambda: ["ifeval", "ifbench", "gsm8k"],
        help="IF gain, unseen constraints, general ability",
    )
    ifbench_inputs: str = option(
        "", "IFBench_test.jsonl for the transfer claim; empty: $VERIF_NB_IFBENCH_INPUTS or a packaged copy"
    )
    run_dir: str = option(
        "",
        "the pipeline's run folder; training goes to run_dir/training. Empty: a new outputs/training-<time>",
    )
    figures_dir: Folder = option("outputs/interactive/figures/03_grpo_training", _FIGURES)
    metrics_dir: Folder = option("outputs/interactive/metrics/03_grpo_training", _METRICS)

    def training_overrides(self) -> dict[str, Any]:
        """What this notebook changes in the preset: ``grpo.max_steps`` and ``model.source`` when set.

        Example:
            >>> GrpoTrainingParams(max_steps=5).training_overrides()
            {'grpo': {'max_steps': 5}}
        """
        overrides: dict[str, Any] = {}
        if self.max_steps > 0:
            overrides["grpo"] = {"max_steps": self.max_steps}
        if self.model_source:
            overrides["model"] = {"source": self.model_source}
        return overrides

    def training_params(self) -> TrainParams:
        """The run's :class:`~verif_nb.train.params.TrainParams`: the preset read and validated once, with this
        notebook's overrides; pass the object on (``run_grpo`` takes it as it is).

        Example:
            >>> GrpoTrainingParams(train_params="params/train_ci.yaml").training_params().model.source  # doctest: +SKIP
            'tiny'
        """
        from verif_nb.train.params import load_params  # here: the training stack is imported only when used

        return load_params(project_path(self.train_params), self.training_overrides())

    def preflight(self) -> list[tuple[str, str]]:
        """The training preset, read and checked (its problems name the preset's file and keys)."""
        from verif_nb.errors import ParamsError

        try:
            self.training_params()
        except ParamsError as err:
            return [("train_params", str(err))]
        return []


@dataclass
class ResultsReportParams(NotebookParams):
    """``04_results_report``: the run's figures and tables for readers, and comparisons across runs."""

    section = "04_results_report"

    run_dir: str = option("", "the run to report on; empty means the newest run under outputs_root")
    outputs_root: str = option("outputs", "where runs live, relative to the project root; earlier runs are found here")
    compare_runs: NonNegativeInt = option(
        5, "how many earlier runs to compare with, newest first; 0 disables the comparison"
    )
    interactive: bool = option(
        True, "live kernel: pick two runs to compare as widgets; a pipeline run sets False (static view)"
    )
    figures_dir: Folder = option("outputs/interactive/figures/04_results_report", _FIGURES)
    metrics_dir: Folder = option("outputs/interactive/metrics/04_results_report", _METRICS)


NOTEBOOK_PARAMS: dict[str, type[NotebookParams]] = {
    cls.section: cls
    for cls in (DatasetInspectionParams, VerifierAblationParams, GrpoTrainingParams, ResultsReportParams)
}
"""The schema of each of the project's notebooks, by notebook name."""
