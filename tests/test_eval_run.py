"""``run_eval`` / ``verif-nb eval bench``: real generation with the tiny local model, the table, the paired tests,
pass@k, the vLLM engine's configuration, and IFBench through ``verif_nb.checkers`` when its extra is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from verif_nb.cli import build_parser, main
from verif_nb.errors import ParamsError
from verif_nb.evaluation import (
    TABLE_COLUMNS,
    SamplingConfig,
    TransformersEngine,
    VLLMEngine,
    claims_table,
    count_new_tokens,
    ifbench_available,
    load_benchmark,
    run_eval,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VERIF_NB_SHARED_DIR", ROOT.parent / "shared"))
IFBENCH = SHARED / "data" / "ifbench" / "IFBench_test.jsonl"
IFBENCH_OK, IFBENCH_WHY = ifbench_available()


@pytest.fixture(scope="module")
def tiny_engine():
    return TransformersEngine("tiny", batch_size=4, progress=False)


# --- generation ----------------------------------------------------------------------------------------------


def test_batched_left_padded_generation_equals_one_at_a_time(tiny_engine):
    # Prompts of different lengths share a batch: left padding and the attention mask must leave each
    # prompt's greedy answer exactly as when it is generated alone.
    prompts = load_benchmark("ifeval", limit=6, seed=2).prompts
    config = SamplingConfig(max_new_tokens=12)
    batched = tiny_engine.generate(prompts, config)
    single = TransformersEngine(
        model=tiny_engine.model, tokenizer=tiny_engine.tokenizer, batch_size=1, progress=False
    ).generate(prompts, config)
    assert batched.responses == single.responses
    assert batched.new_tokens == single.new_tokens
    assert 0 < batched.new_tokens <= 12 * len(prompts)
    assert all(len(r) == 1 and isinstance(r[0], str) for r in batched.responses)
    assert batched.seconds > 0 and batched.tokens_per_s > 0


def test_sampling_draws_k_different_responses_reproducibly(tiny_engine):
    prompts = ["Write a poem.", "Count to ten."]
    config = SamplingConfig(max_new_tokens=10, samples=3, temperature=1.0, seed=7)
    a = tiny_engine.generate(prompts, config)
    b = tiny_engine.generate(prompts, config)
    assert [len(r) for r in a.responses] == [3, 3]
    assert a.responses == b.responses  # seeded
    assert len(set(a.responses[0])) > 1  # a random-weight model at T=1 does not repeat itself


@pytest.mark.parametrize(
    "rows, eos, expected",
    [
        ([[4, 5, 6]], {2}, [3]),  # no end token: the whole row
        ([[4, 2, 0, 0]], {2}, [2]),  # the end token counts, the padding after it does not
        ([[2, 2, 2]], {2}, [1]),
        ([[4, 9, 0], [9, 0, 0]], {2, 9}, [2, 1]),
    ],
)
def test_count_new_tokens(rows, eos, expected):
    assert count_new_tokens(rows, eos) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": 0}, ">= 1"),
        ({"max_new_tokens": 0}, ">= 1"),
        ({"samples": 3, "temperature": 0}, "copies of the greedy answer"),
    ],
)
def test_sampling_config_rejects(kwargs, message):
    with pytest.raises(ParamsError, match=message):
        SamplingConfig(**kwargs)


# --- vLLM by configuration -------------------------------------------------------------------------------------


class _FakeLLM:
    """Records how vLLM's LLM was built and called; answers with fixed texts and token ids."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        return [
            SimpleNamespace(
                outputs=[SimpleNamespace(text=f" answer {i}.{s} ", token_ids=[1] * (s + 2)) for s in range(params["n"])]
            )
            for i, _ in enumerate(prompts)
        ]


def test_vllm_engine_is_configured_from_the_sampling_config():
    built = {}

    def factory(**kwargs):
        built["llm"] = _FakeLLM(**kwargs)
        return built["llm"]

    engine = VLLMEngine(
        "tiny",
        system_prompt="Be brief.",
        seed=3,
        tensor_parallel_size=4,
        gpu_memory_utilization=0.5,
        llm_factory=factory,
        sampling_factory=dict,
    )
    llm_kwargs = built["llm"].kwargs
    assert Path(llm_kwargs["model"]).name == "tiny-qwen2-seed0" and llm_kwargs["tokenizer"] == llm_kwargs["model"]
    assert (llm_kwargs["seed"], llm_kwargs["tensor_parallel_size"], llm_kwargs["gpu_memory_utilization"]) == (3, 4, 0.5)
    assert engine.sampling_params(SamplingConfig(max_new_tokens=64)) == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 64,
        "seed": 0,
    }
    assert engine.sampling_params(SamplingConfig(max_new_tokens=32, samples=4, top_p=0.95, seed=9)) == {
        "n": 4,
        "temperature": 0.8,
        "top_p": 0.95,
        "max_tokens": 32,
        "seed": 9,
    }

    gen = engine.generate(["Q1", "Q2"], SamplingConfig(samples=2, temperature=0.6))
    prompts, params = built["llm"].calls[0]
    assert prompts[0].startswith("<|im_start|>system\nBe brief.<|im_end|>") and "Q1" in prompts[0]
    assert prompts[0].endswith("<|im_start|>assistant\n")  # the same chat template as the transformers engine
    assert params["n"] == 2 and params["temperature"] == 0.6
    assert gen.responses == [["answer 0.0", "answer 0.1"], ["answer 1.0", "answer 1.1"]]
    assert gen.new_tokens == 2 * (2 + 3) and gen.engine == "vllm"


def test_run_eval_passes_engine_choice_and_options_to_the_factory():
    seen = []

    def wrapped(engine, source, **kwargs):
        seen.append((engine, source, kwargs))
        return _ScriptedEngine(lambda p: "0")

    run_eval(
        {"a": "tiny", "b": "tiny:1"},
        ["gsm8k"],
        limit=2,
        engine="vllm",
        engine_factory=wrapped,
        engine_options={"tensor_parallel_size": 2},
        progress=False,
        resamples=100,
    )
    assert [(e, s) for e, s, _ in seen] == [("vllm", "tiny"), ("vllm", "tiny:1")]
    assert seen[0][2]["tensor_parallel_size"] == 2 and seen[0][2]["seed"] == 0


def test_nothing_imports_vllm_or_torch_at_import_time():
    code = (
        "import sys, verif_nb.evaluation, verif_nb.evaluation.cli, verif_nb.cli; verif_nb.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('vllm', 'torch', 'transformers')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "[]"


def test_vllm_missing_is_a_clear_error():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ParamsError, match=r"install the gpu extra"):
        VLLMEngine("tiny")


# --- the table -------------------------------------------------------------------------------------------------


class _ScriptedEngine:
    """A deterministic answerer for the table logic (the main path uses the real tiny model above)."""

    name = "scripted"

    def __init__(self, answer):
        self.answer = answer

    def generate(self, prompts, config, desc=""):
        from verif_nb.evaluation import Generation

        return Generation(
            [[self.answer(p) for _ in range(config.samples)] for p in prompts], 5 * len(prompts), 0.5, self.name
        )

    def close(self):
        pass


def test_run_eval_with_the_tiny_model_writes_one_table(tmp_path):
    out = tmp_path / "eval"
    report = run_eval(
        {"before": "tiny", "after": "tiny:1"},
        ["ifeval", "gsm8k"],
        limit=4,
        seed=5,
        max_new_tokens=8,
        batch_size=3,
        progress=False,
        resamples=500,
        out_dir=out,
    )
    t = report.table
    assert list(t.columns) == TABLE_COLUMNS
    assert set(t["benchmark"]) == {"ifeval", "gsm8k"} and list(t["model"].unique()) == ["before", "after"]
    assert len(t) == 2 * (4 + 1)
    assert (t["n"] == 4).all() and t["subset"].str.contains("4 of .*, seed 5").all()
    assert (t[t.model == "before"]["difference"].isna()).all()
    after = t[t.model == "after"].set_index(["benchmark", "metric"])
    assert after.loc[("ifeval", "prompt_strict"), "test"] == "exact McNemar"
    assert after.loc[("gsm8k", "accuracy"), "test"] == "paired bootstrap 95% CI"
    assert (t["tokens_per_s"] > 0).all()
    # the same sampled items for both models, recorded in the setup
    assert report.setup["indices"]["gsm8k"] == load_benchmark("gsm8k", limit=4, seed=5).indices
    for bench in ("ifeval", "gsm8k"):
        lines = [json.loads(x) for x in (out / bench / "before" / "responses.jsonl").read_text().splitlines()]
        other = [json.loads(x) for x in (out / bench / "after" / "responses.jsonl").read_text().splitlines()]
        assert [x["index"] for x in lines] == [x["index"] for x in other] == report.setup["indices"][bench]
    assert (out / "ifeval" / "after" / "eval_results_strict.jsonl").is_file()
    assert (out / "gsm8k" / "after" / "verdicts.jsonl").is_file()
    assert pd.read_csv(out / "eval_table.csv").shape == t.shape
    saved = json.loads((out / "eval.json").read_text())
    assert saved["setup"]["subsets"]["gsm8k"] == "gsm8k-200 (packaged): 4 of 200, seed 5"
    assert {r["model"] for r in saved["throughput"]} == {"before", "after"}
    markdown = (out / "eval_table.md").read_text()
    assert "| gsm8k | accuracy | after | 4 |" in markdown and "McNemar" in markdown


def test_significance_through_the_whole_table(tmp_path):
    # 8 prompts, one no-comma instruction each: "before" always uses a comma, "after" never does.
    # McNemar: 8 gained, 0 lost, p = 2 / 2^8. GSM8K: before always wrong, after always right.
    inputs = tmp_path / "ifeval.jsonl"
    inputs.write_text(
        "".join(
            json.dumps(
                {
                    "key": i,
                    "prompt": f"Describe item {i} without commas.",
                    "instruction_id_list": ["punctuation:no_comma"],
                    "kwargs": [{}],
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    gold = {r["question"]: r["answer"].rpartition("####")[2].strip() for r in load_benchmark("gsm8k").rows}

    def answers(kind):
        def answer(prompt):
            question = prompt.split("\nWork it out")[0]
            if question in gold:
                return f"The answer is {gold[question]}." if kind == "after" else "The answer is -1."
            return "Plain words here" if kind == "after" else "Words, with commas"

        return answer

    report = run_eval(
        {"before": "b", "after": "a"},
        ["ifeval", "gsm8k"],
        limit=20,
        inputs={"ifeval": str(inputs)},
        progress=False,
        resamples=2000,
        engine_factory=lambda engine, source, **kw: _ScriptedEngine(answers("after" if source == "a" else "before")),
    )
    t = report.table.set_index(["benchmark", "metric", "model"])
    row = t.loc[("ifeval", "prompt_strict", "after")]
    assert (row["score"], row["baseline_score"], row["difference"]) == (100.0, 0.0, 100.0)
    assert row["p_value"] == pytest.approx(2 / 256) and bool(row["significant"])
    assert row["subset"] == "ifeval (ifeval.jsonl): all 8"
    g = t.loc[("gsm8k", "accuracy", "after")]
    assert (g["n"], g["score"], g["difference"], g["ci_low"], g["ci_high"]) == (20, 100.0, 100.0, 100.0, 100.0)
    assert bool(g["significant"])
    claims = claims_table(report.table, skipped={"ifbench": "not installed"}).set_index("claim")
    assert claims.loc["IF gain", "verdict"] == "significantly higher (as claimed)"
    assert claims.loc["general ability unchanged", "verdict"] == "significantly higher (against the claim)"
    assert claims.loc["transfer to unseen constraints", "verdict"] == "not measured: not installed"


def test_pass_at_k_rows(tmp_path):
    # Sample s of every prompt is right for s < 2 in "after", never in "before": pass@1 = 2/3, pass@2 = 1.
    def factory(engine, source, **kw):
        gold = {r["question"]: r["answer"].rpartition("####")[2].strip() for r in load_benchmark("gsm8k").rows}

        class Engine(_ScriptedEngine):
            def generate(self, prompts, config, desc=""):
                from verif_nb.evaluation import Generation

                def one(p, s):
                    return gold[p.split("\nWork it out")[0]] if source == "a" and s < 2 else "no"

                return Generation([[one(p, s) for s in range(config.samples)] for p in prompts], 1, 1.0)

        return Engine(None)

    report = run_eval(
        {"before": "b", "after": "a"},
        ["gsm8k"],
        limit=10,
        samples=3,
        engine_factory=factory,
        progress=False,
        resamples=200,
    )
    t = report.table.set_index(["metric", "model"])
    assert t.loc[("accuracy pass@1", "after"), "score"] == pytest.approx(66.67)
    assert t.loc[("accuracy pass@2", "after"), "score"] == 100.0
    assert t.loc[("accuracy pass@3", "before"), "score"] == 0.0
    assert t.loc[("accuracy", "after"), "decoding"] == "first of 3 samples, T=0.8, top_p=1.0, seed 0"
    assert t.loc[("accuracy pass@2", "after"), "test"] == "paired bootstrap 95% CI"


def test_limit_sample_and_bad_benchmark():
    with pytest.raises(ParamsError, match="unknown benchmark"):
        run_eval({"a": "tiny"}, ["mmlu"])
    with pytest.raises(ParamsError, match="no models"):
        run_eval({}, ["gsm8k"])


# --- IFBench --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(IFBENCH_OK, reason="the ifbench extra is installed")
def test_ifbench_without_its_checkers_fails_before_any_model_loads():
    def factory(*args, **kwargs):
        raise AssertionError("no model should load")

    with pytest.raises(ParamsError, match="cannot evaluate ifbench"):
        run_eval({"a": "tiny"}, ["ifbench"], inputs={"ifbench": str(IFBENCH)}, engine_factory=factory)


@pytest.mark.skipif(not IFBENCH_OK, reason=f"IFBench scorer absent: {IFBENCH_WHY}")
def test_ifbench_scores_and_approximate_checks_reach_the_table(tmp_path, monkeypatch):
    # run_eval scores IFBench with verif_nb.checkers.score_ifbench; what its summary says about approximate checks
    # (the substitute part-of-speech model) must reach the table and its markdown.
    from verif_nb.checkers import IFBenchScores, score_ifbench

    calls = []

    def scorer(inputs, responses, **kwargs):
        calls.append((inputs, responses))
        return score_ifbench(inputs, responses, **kwargs)

    monkeypatch.setattr("verif_nb.checkers.score_ifbench", scorer)
    monkeypatch.setattr(
        IFBenchScores,
        "approximate_checks",
        lambda self: {"words:start_verb": {"checks": 3, "why": "a substitute tagger"}},
    )
    inputs = tmp_path / "ifbench.jsonl"
    ids = ["punctuation:no_comma", "change_case:english_lowercase"]
    inputs.write_text(
        "".join(
            json.dumps({"key": str(i), "prompt": f"P{i}", "instruction_id_list": ids, "kwargs": [{}, {}]}) + "\n"
            for i in range(3)
        )
    )
    report = run_eval(
        {"before": "b", "after": "a"},
        ["ifbench"],
        inputs={"ifbench": str(inputs)},
        progress=False,
        resamples=200,
        out_dir=tmp_path / "out",
        engine_factory=lambda engine, source, **kw: _ScriptedEngine(
            lambda p: (
                "the weather is calm today and the sky is clear"
                if source == "a"
                else "the weather is calm today, and the sky is clear"
            )
        ),
    )
    assert [r["prompt"] for r in calls[0][0]] == ["P0", "P1", "P2"] and calls[0][1][0]["prompt"] == "P0"
    t = report.table.set_index(["metric", "model"])
    assert t.loc[("prompt_strict", "before"), "score"] == 0.0 and t.loc[("prompt_strict", "after"), "score"] == 100.0
    assert t.loc[("instruction_strict", "before"), "score"] == 50.0
    assert t.loc[("instruction_strict", "after"), "units"] == 6
    assert report.setup["approximate_checks"]["ifbench/after"]["words:start_verb"]["checks"] == 3
    assert (
        "`words:start_verb`, 3 check(s) approximate: a substitute tagger"
        in (tmp_path / "out" / "eval_table.md").read_text()
    )


@pytest.mark.skipif(not IFBENCH_OK, reason=f"IFBench scorer absent: {IFBENCH_WHY}")
@pytest.mark.skipif(not IFBENCH.is_file(), reason=f"{IFBENCH} not present")
def test_ifbench_with_the_tiny_model():
    report = run_eval(
        {"before": "tiny", "after": "tiny:1"},
        ["ifbench"],
        limit=3,
        max_new_tokens=8,
        inputs={"ifbench": str(IFBENCH)},
        progress=False,
        resamples=200,
    )
    t = report.table
    assert set(t["metric"]) == {"prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose"}
    assert t["subset"].eq("ifbench (IFBench_test.jsonl): 3 of 300, seed 0").all()
    assert t["score"].between(0, 100).all()


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_eval_bench(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = [
        "eval",
        "bench",
        "gsm8k",
        "--model",
        "before=tiny",
        "--model",
        "after=tiny:1",
        "--limit",
        "2",
        "--max-new-tokens",
        "4",
        "--out",
        str(out),
        "--no-progress",
        "--resamples",
        "200",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "tokens/s" in printed and "| gsm8k | accuracy | after | 2 |" in printed
    assert {p.name for p in out.iterdir()} >= {"eval_table.csv", "eval_table.md", "eval.json"}
    assert main(argv) == 2  # a finished table is never overwritten silently
    assert "pass --force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0


def test_cli_eval_ifeval_options_are_unchanged():
    args = build_parser().parse_args(
        [
            "eval",
            "ifeval",
            "--model",
            "before=tiny",
            "--limit",
            "3",
            "--out",
            "o",
            "--inputs",
            "in.jsonl",
            "--groups",
            "punctuation",
            "--max-new-tokens",
            "5",
            "--batch-size",
            "2",
        ]
    )
    # an alias of `eval bench ifeval`: --inputs is bench's --ifeval-inputs
    got = (args.model, args.limit, args.out, args.ifeval_inputs, args.groups, args.max_new_tokens, args.batch_size)
    assert got == (
        ["before=tiny"],
        3,
        "o",
        "in.jsonl",
        ["punctuation"],
        5,
        2,
    )
    assert args.func.__module__ == "verif_nb.evaluation.cli" and args.benchmarks == ["ifeval"]
    bench = build_parser().parse_args(["eval", "bench", "ifeval", "--model", "before=tiny", "--out", "o"])
    assert bench.func is args.func
