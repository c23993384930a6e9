"""Evaluation, in one package: of verifiers (accuracy against gold labels, judge calibration on exact
hard-constraint verdicts, reward-hacking probes, cost per mode: the tables the ablation notebook plots) and of
models (IFEval, IFBench and GSM8K before and after training, with paired significance tests and pass@k;
held-out records), with one generation engine and the statistics in :mod:`verif_nb.evaluation.stats`.

``run_eval({"before": base, "after": trained}, ["ifeval", "ifbench", "gsm8k"], limit=50)`` answers a
seeded sample of each benchmark with every model (batched transformers, or vLLM on GPUs), and returns one
table: score, difference to the first model, its paired bootstrap 95% interval, and the exact McNemar
p-value for prompt-level metrics. ``claims_table`` turns it into the three claims beside the paper's figures.

Example:
    >>> from verif_nb.data import load_sample
    >>> from verif_nb.verifier import Verifier
    >>> ev = evaluate_against_gold(load_sample().records[:3], {"rule": Verifier(mode="rule")}, progress=False)
    >>> set(ev.constraint_metrics()["mode"])
    {'rule'}
    >>> score_gsm8k_answer("So the answer is $1,200.", "... #### 1200").correct
    True
    >>> round(mcnemar_exact([False] * 6, [True] * 6).p_value, 5), pass_at_k(4, 1, 2)
    (0.03125, 0.5)
"""

from verif_nb.evaluation._bench import (
    BENCHMARKS,
    METRICS,
    BenchItems,
    MetricScores,
    ifbench_available,
    ifeval_inputs,
    load_benchmark,
    sample_indices,
    score_items,
)
from verif_nb.evaluation._calibration import (
    CalibrationCase,
    build_calibration_cases,
    calibration_by_group,
    calibration_summary,
    judge_calibration,
    load_calibration_cases,
)
from verif_nb.evaluation._claims import (
    CLAIMS,
    PAPER,
    PAPER_FIGURES,
    claims_figure,
    claims_table,
    measure_claims,
    paper_figures,
    runnable_benchmarks,
)
from verif_nb.evaluation._compare import compare_heldout, compare_ifeval, heldout_examples, score_heldout
from verif_nb.evaluation._cost import cost_per_thousand
from verif_nb.evaluation._generate import (
    ENGINES,
    Generation,
    SamplingConfig,
    TransformersEngine,
    VLLMEngine,
    chat_texts,
    count_new_tokens,
    load_policy,
    make_engine,
)
from verif_nb.evaluation._gold import GoldEvaluation, evaluate_against_gold, taxonomy_group
from verif_nb.evaluation._gsm8k import (
    PACKAGED_GSM8K,
    GSM8KVerdict,
    build_gsm8k_subset,
    extract_last_number,
    gsm8k_accuracy,
    gsm8k_gold,
    gsm8k_problems,
    gsm8k_prompt,
    normalize_number,
    score_gsm8k_answer,
)
from verif_nb.evaluation._probes import PROBES, reward_hacking_table
from verif_nb.evaluation._run import TABLE_COLUMNS, EvalReport, run_eval
from verif_nb.evaluation.stats import (
    BootstrapResult,
    McNemarResult,
    balanced_accuracy,
    bootstrap_ci,
    fisher_exact_p,
    mcnemar_exact,
    mean_pass_at_k,
    paired_bootstrap_ci,
    pass_at_k,
    permutation_p,
)

__all__ = [
    "BENCHMARKS",
    "BenchItems",
    "BootstrapResult",
    "CLAIMS",
    "CalibrationCase",
    "ENGINES",
    "EvalReport",
    "GSM8KVerdict",
    "Generation",
    "GoldEvaluation",
    "METRICS",
    "McNemarResult",
    "MetricScores",
    "PACKAGED_GSM8K",
    "PAPER",
    "PAPER_FIGURES",
    "PROBES",
    "SamplingConfig",
    "TABLE_COLUMNS",
    "TransformersEngine",
    "VLLMEngine",
    "balanced_accuracy",
    "bootstrap_ci",
    "build_calibration_cases",
    "build_gsm8k_subset",
    "calibration_by_group",
    "calibration_summary",
    "chat_texts",
    "claims_figure",
    "claims_table",
    "compare_heldout",
    "heldout_examples",
    "compare_ifeval",
    "cost_per_thousand",
    "count_new_tokens",
    "evaluate_against_gold",
    "extract_last_number",
    "fisher_exact_p",
    "gsm8k_accuracy",
    "gsm8k_gold",
    "gsm8k_problems",
    "gsm8k_prompt",
    "ifbench_available",
    "ifeval_inputs",
    "judge_calibration",
    "load_benchmark",
    "load_calibration_cases",
    "load_policy",
    "make_engine",
    "mcnemar_exact",
    "mean_pass_at_k",
    "measure_claims",
    "normalize_number",
    "paired_bootstrap_ci",
    "paper_figures",
    "pass_at_k",
    "permutation_p",
    "reward_hacking_table",
    "run_eval",
    "runnable_benchmarks",
    "sample_indices",
    "score_gsm8k_answer",
    "score_heldout",
    "score_items",
    "taxonomy_group",
]
