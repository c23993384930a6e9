"""Model evaluation for the paper's three claims: IFEval (IF gain), IFBench (unseen constraints), GSM8K
(general ability), several models at once, with paired significance tests and pass@k.

``run_eval({"before": base, "after": trained}, ["ifeval", "ifbench", "gsm8k"], limit=50)`` answers a
seeded sample of each benchmark with every model (batched transformers, or vLLM on GPUs), and returns one
table: score, difference to the first model, its paired bootstrap 95% interval, and the exact McNemar
p-value for prompt-level metrics. ``claims_table`` turns it into the three claims beside the paper's figures.

Example:
    >>> from verif_nb.model_eval import mcnemar_exact, pass_at_k, score_gsm8k_answer
    >>> score_gsm8k_answer("So the answer is $1,200.", "... #### 1200").correct
    True
    >>> round(mcnemar_exact([False] * 6, [True] * 6).p_value, 5), pass_at_k(4, 1, 2)
    (0.03125, 0.5)
"""

from verif_nb.model_eval._bench import (
    BENCHMARKS,
    METRICS,
    BenchItems,
    MetricScores,
    ifbench_available,
    load_benchmark,
    sample_indices,
    score_ifbench,
    score_items,
)
from verif_nb.model_eval._claims import (
    CLAIMS,
    PAPER,
    PAPER_FIGURES,
    claims_figure,
    claims_table,
    measure_claims,
    paper_figures,
    runnable_benchmarks,
)
from verif_nb.model_eval._generate import (
    ENGINES,
    Generation,
    SamplingConfig,
    TransformersEngine,
    VLLMEngine,
    chat_texts,
    count_new_tokens,
    make_engine,
)
from verif_nb.model_eval._gsm8k import (
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
from verif_nb.model_eval._run import TABLE_COLUMNS, EvalReport, run_eval
from verif_nb.model_eval._stats import (
    BootstrapResult,
    McNemarResult,
    mcnemar_exact,
    mean_pass_at_k,
    paired_bootstrap_ci,
    pass_at_k,
)

__all__ = [
    "BENCHMARKS",
    "CLAIMS",
    "ENGINES",
    "METRICS",
    "PACKAGED_GSM8K",
    "PAPER",
    "PAPER_FIGURES",
    "TABLE_COLUMNS",
    "BenchItems",
    "BootstrapResult",
    "EvalReport",
    "GSM8KVerdict",
    "Generation",
    "McNemarResult",
    "MetricScores",
    "SamplingConfig",
    "TransformersEngine",
    "VLLMEngine",
    "build_gsm8k_subset",
    "chat_texts",
    "claims_figure",
    "claims_table",
    "count_new_tokens",
    "extract_last_number",
    "gsm8k_accuracy",
    "gsm8k_gold",
    "gsm8k_problems",
    "gsm8k_prompt",
    "ifbench_available",
    "load_benchmark",
    "make_engine",
    "mcnemar_exact",
    "mean_pass_at_k",
    "measure_claims",
    "normalize_number",
    "paired_bootstrap_ci",
    "paper_figures",
    "pass_at_k",
    "run_eval",
    "runnable_benchmarks",
    "sample_indices",
    "score_gsm8k_answer",
    "score_ifbench",
    "score_items",
]
