"""The stable command line: these commands and options are a documented interface (README, "Command
line"); renaming or dropping one fails here. New nouns and verbs may be added beside them."""

from __future__ import annotations

import argparse

import pytest

from verif_nb.cli import build_parser

JUDGE_OPTIONS = [
    "--judge-base-url",
    "--judge-model",
    "--judge-template",
    "--judge-api-key-env",
    "--judge-max-tokens",
    "--judge-concurrency",
    "--judge-cache",
    "--judge-timeout",
    "--judge-max-retries",
    "--judge-backoff",
    "--judge-logprobs",
]
LOAD_OPTIONS = ["--format", "--untagged", "--unknown-checkers", "--split"]
# command words -> (positional arguments, options)
STABLE = {
    ("ifeval", "score"): ([], ["--inputs", "--responses", "--out", "--force"]),
    ("verify",): (
        [],
        [
            "--data",
            "--format",
            "--lenient",
            "--untagged",
            "--responses",
            "--out",
            "--mode",
            "--combine",
            "--rule-weight",
            "--judge-granularity",
            "--on-judge-error",
            "--on-rule-error",
            "--instruction-arg",
            "--workers",
            "--timeout",
            *JUDGE_OPTIONS,
        ],
    ),
    ("run",): (["params"], ["--out", "--outputs-root", "--hide-input", "--no-progress"]),
    ("check-params",): (["params"], []),
    ("judge", "serve"): ([], ["--model", "--port", "--threads", "--ctx", "--no-logprobs", "--wait"]),
    ("judge", "status"): ([], ["--port"]),
    ("judge", "stop"): ([], ["--port"]),
    ("export", "verl"): (
        [],
        ["--data", "--out", "--lenient", "--force", "--data-source", "--export-split", *LOAD_OPTIONS],
    ),
    ("train",): (["params"], ["--out", "--resume", "--set"]),
    ("eval", "ifeval"): (
        [],
        ["--model", "--limit", "--inputs", "--groups", "--max-new-tokens", "--batch-size", "--out"],
    ),
    ("eval", "heldout"): ([], ["--model", "--run", "--limit", "--max-new-tokens", "--batch-size", "--out"]),
}


def _command(words: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert word in sub.choices, f"verif-nb {' '.join(words)}: {word!r} is gone"
        parser = sub.choices[word]
    return parser


@pytest.mark.parametrize("words", list(STABLE), ids=" ".join)
def test_stable_commands_keep_their_arguments(words):
    positional, options = STABLE[words]
    parser = _command(words)
    have = {s for a in parser._actions for s in a.option_strings}
    assert set(options) <= have, f"verif-nb {' '.join(words)} lost {sorted(set(options) - have)}"
    assert [a.dest for a in parser._actions if not a.option_strings] == positional


def test_data_export_verl_is_the_same_command_as_export_verl():
    argv = ["--data", "d.jsonl", "--out", "o.parquet", "--untagged", "drop"]
    old = build_parser().parse_args(["export", "verl", *argv])
    new = build_parser().parse_args(["data", "export", "verl", *argv])
    assert old.func is new.func
    assert {k: v for k, v in vars(old).items() if k != "command"} == {
        k: v for k, v in vars(new).items() if k not in ("command", "data_command")
    }


def test_verify_options_are_generated_from_the_config_fields():
    import dataclasses

    from verif_nb.judge import JudgeConfig
    from verif_nb.judge.cli import judge_config_from_args
    from verif_nb.verifier import VerifierConfig
    from verif_nb.verifier.cli import verify_config

    base = ["verify", "--data", "d", "--responses", "r", "--out", "o"]
    args = build_parser().parse_args(base)
    # no options given: exactly the configs' own defaults (rule mode for the command), nothing copied by hand
    assert judge_config_from_args(args) == JudgeConfig()
    assert verify_config(args) == VerifierConfig(mode="rule")
    # --profile reference alone is VerIF's reward: hybrid, the product (issue 20, item 6)
    reference = verify_config(build_parser().parse_args([*base, "--profile", "reference"]))
    assert (reference.mode, reference.combine) == ("hybrid", "product")
    actions = _command(("verify",))._actions
    offered = {
        a.dest.removeprefix("judge_") for a in actions if a.dest.startswith("judge_") and a.dest != "judge_granularity"
    }
    assert offered == {f.name for f in dataclasses.fields(JudgeConfig)} - {"extra_body"}
    args = build_parser().parse_args(
        [*base, "--judge-timeout", "7", "--judge-cache", "c", "--judge-logprobs", "--timeout", "3", "--no-strip-think"]
    )
    cfg = judge_config_from_args(args)
    assert (cfg.timeout_s, cfg.cache_dir, cfg.logprobs) == (7.0, "c", True)
    verifier = verify_config(args)
    assert (verifier.sandbox_timeout_s, verifier.strip_think) == (3.0, False)
