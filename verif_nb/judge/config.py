"""Judge endpoint configuration: one dataclass whose fields carry their help text, plus named presets.

Nothing here connects anywhere; a :class:`~verif_nb.judge.client.JudgeClient` built from the config
does, and only when asked to judge.

GPU setups of the VerIF paper (serve the judge with vLLM on the GPU machine, then point the config
at it)::

    # QwQ-32B, the paper's main judge (a reasoning model: long <think> sections, so large max_tokens)
    vllm serve Qwen/QwQ-32B --port 8000 --tensor-parallel-size 4 --max-model-len 16384
    cfg = JudgeConfig.preset("qwq-32b-vllm", base_url="http://gpu-node:8000/v1")

    # THU-KEG/IF-Verifier-7B, the paper's distilled verifier (also reasons before its [[1]]/[[0]])
    vllm serve THU-KEG/IF-Verifier-7B --port 8000 --max-model-len 16384
    cfg = JudgeConfig.preset("if-verifier-7b-vllm", base_url="http://gpu-node:8000/v1")

The verdict is read after the last ``</think>``, so reasoning judges work with every template.

Example:
    >>> cfg = JudgeConfig.preset("qwq-32b-vllm")
    >>> (cfg.model, cfg.template, cfg.max_tokens >= 4096)
    ('Qwen/QwQ-32B', 'verif_score_zh', True)
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from verif_nb.errors import ParamsError
from verif_nb.judge.endpoints import split_base_urls
from verif_nb.settings import Concurrency, Count, NonNegativeFloat, NonNegativeInt, PositiveFloat, Settings, option

JudgeKind = Literal["embedded", "url", "none"]
"""How a notebook reaches its judge: start the embedded CPU server, use a URL, or go without one."""
JUDGE_KINDS: tuple[str, ...] = typing.get_args(JudgeKind)


@dataclass
class JudgeConfig(Settings):
    """Where and how to ask the judge. Every field can come from a params file.

    Example:
        >>> JudgeConfig(base_url="http://127.0.0.1:9000/v1", concurrency=8).concurrency
        8
    """

    section = "judge"

    base_url: str | list[str] = option(
        "http://127.0.0.1:8088/v1",
        help=(
            "OpenAI-compatible API root, ending in /v1 (vLLM, SGLang, llama.cpp server, Ollama, OpenAI); several "
            "servers of one model as a list or comma-separated (calls are spread over them)"
        ),
    )
    model: str = option(
        "qwen2.5-coder-0.5b-instruct",
        help=("model name sent with each request (vLLM: the served model; llama.cpp: its --model_alias)"),
    )
    api_key_env: str = option(
        "VERIF_JUDGE_API_KEY",
        help=("name of the environment variable holding the API key; unset means no Authorization header"),
    )
    template: str = option(
        "verif_score_en",
        help=("template for score_response (all soft constraints in one call): name or path to a .yaml"),
    )
    template_file: str | None = option(
        None,
        help=(
            "a judge template file used for score_response: a verif-nb .yaml template, or VerIF's own llm_call.py "
            "(its prompts are read, never run; the reference profile needs it)"
        ),
    )
    template_dir: str | None = option(
        None, help=("folder of extra *.yaml judge templates, registered when the client is created")
    )
    judge_template: str = option(
        "verif_judge_en", help=("template for judge_constraint (one constraint per call): name or path to a .yaml")
    )
    max_tokens: Count = option(512, "answer length limit; reasoning judges (QwQ, IF-Verifier) need thousands")
    temperature: NonNegativeFloat = option(0.0, "sampling temperature; 0 = greedy, reproducible")
    timeout_s: PositiveFloat = option(
        120.0, "deadline (s) for each attempt as a whole: connect, send and the full reply"
    )
    max_retries: NonNegativeInt = option(
        4, help=("retries after the first attempt on 429, 5xx, connection errors and timeouts")
    )
    backoff_s: NonNegativeFloat = option(
        0.5, help=("first retry delay; doubles each retry (a 429's Retry-After wins when larger)")
    )
    concurrency: Concurrency = option(4, "most requests in flight at once, per server")
    cache_dir: str | None = option(None, "folder of the persistent answer cache (sqlite); None = no cache")
    logprobs: bool = option(
        False, help=("request token log-probabilities and report p_yes where the server returns them")
    )
    top_logprobs: Annotated[int, Field(ge=0, le=20)] = option(10, "alternatives per token when logprobs is on")
    extra_body: dict[str, Any] = option(
        default_factory=dict, help=("extra JSON fields merged into every request (e.g. vLLM's chat_template_kwargs)")
    )
    endpoint_cooldown_s: NonNegativeFloat = option(
        30.0, help=("with several base_url servers: seconds a server that failed stays out of rotation")
    )

    def _check(self) -> list[tuple[str, str]]:
        try:
            # One string either way, so messages and run metadata read the same for one server or several.
            self.base_url = ",".join(split_base_urls(self.base_url))
        except ParamsError as err:
            return [("base_url", str(err))]
        return []

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> JudgeConfig:
        """A named setup (see :data:`PRESETS`), with any field overridden.

        Example:
            >>> JudgeConfig.preset("embedded-0.5b", concurrency=1).model
            'qwen2.5-coder-0.5b-instruct'
        """
        if name not in PRESETS:
            raise ParamsError(f"unknown judge preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls.from_dict({**PRESETS[name], **overrides})


def _embedded(model: str) -> dict[str, Any]:
    """A preset for a PyPI GGUF model served by ``verif-nb judge serve`` (one llama.cpp server, slow on CPU)."""
    return {
        "base_url": "http://127.0.0.1:8088/v1",
        "model": model,
        "template": "verif_score_en",
        "judge_template": "verif_judge_en",
        "max_tokens": 64,
        "concurrency": 1,
        "timeout_s": 300.0,
        "logprobs": True,
    }


# Reasoning judges think for thousands of tokens before the verdict, so they get a large max_tokens, a
# long timeout, and the Chinese llm_score prompt the paper's judges were used (and IF-Verifier trained) with.
PRESETS: dict[str, dict[str, Any]] = {
    "embedded-0.5b": _embedded("qwen2.5-coder-0.5b-instruct"),
    "embedded-1.5b": _embedded("qwen2.5-coder-1.5b-instruct"),
    "qwq-32b-vllm": {
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "Qwen/QwQ-32B",
        "template": "verif_score_zh",
        "judge_template": "verif_judge_zh",
        "max_tokens": 8192,
        "temperature": 0.0,
        "timeout_s": 900.0,
        "concurrency": 32,
    },
    "if-verifier-7b-vllm": {
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "THU-KEG/IF-Verifier-7B",
        "template": "verif_score_zh",
        "judge_template": "verif_judge_zh",
        "max_tokens": 4096,
        "temperature": 0.0,
        "timeout_s": 600.0,
        "concurrency": 64,
    },
}
JudgePreset = Literal[tuple(PRESETS)]  # type: ignore[misc]  # the names above, as a type a schema can check
