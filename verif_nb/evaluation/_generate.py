"""Answer generation for evaluation: batched transformers on a CPU (or one GPU), vLLM on GPU machines.

Both engines take user prompts, apply the model's chat template the same way, and return K responses
per prompt plus the number of generated tokens and the wall time, so tokens/s is comparable across
engines. Neither imports torch, transformers or vllm before it is built.

Example:
    >>> SamplingConfig(samples=4).resolved_temperature
    0.8
    >>> SamplingConfig().greedy
    True
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from verif_nb.errors import ParamsError
from verif_nb.settings import Count, NonNegativeFloat, Settings, option

log = logging.getLogger(__name__)

ENGINES = ("transformers", "vllm")
# Sampling temperature when K > 1 samples are drawn and none is given: high enough for K samples to
# differ, low enough to stay on-distribution (Chen et al. 2021 use 0.8 for pass@k at larger k).
DEFAULT_SAMPLING_TEMPERATURE = 0.8


@dataclass(frozen=True)
class SamplingConfig(Settings):
    """How answers are drawn: greedy (1 sample, temperature 0) or K samples at a temperature.

    Example:
        >>> SamplingConfig(samples=2, temperature=0.5).greedy
        False
        >>> SamplingConfig(samples=3, temperature=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: sampling.temperature: 3 samples at temperature 0 would be 3 copies of ...
    """

    section = "sampling"

    max_new_tokens: Count = option(256, "answer length limit, in tokens")
    samples: Count = option(1, "K responses per prompt; K > 1 adds pass@1..K rows")
    temperature: NonNegativeFloat | None = option(
        None, f"default: 0 (greedy) for one sample, {DEFAULT_SAMPLING_TEMPERATURE} for K > 1"
    )
    top_p: Annotated[float, Field(gt=0, le=1)] = option(1.0, "nucleus sampling: the smallest set of tokens this likely")
    seed: int = option(0, "seed of the sample, the sampling and the bootstrap")

    def _check(self) -> list[tuple[str, str]]:
        if self.samples > 1 and self.temperature == 0:
            return [
                (
                    "temperature",
                    f"{self.samples} samples at temperature 0 would be {self.samples} copies of "
                    "the greedy answer; give a temperature > 0",
                )
            ]
        return []

    @property
    def resolved_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return 0.0 if self.samples == 1 else DEFAULT_SAMPLING_TEMPERATURE

    @property
    def greedy(self) -> bool:
        return self.resolved_temperature == 0.0

    def describe(self) -> str:
        """One line for tables: ``greedy`` or ``4 samples, T=0.8, top_p=1.0, seed 0``.

        Example:
            >>> SamplingConfig(samples=4, seed=1).describe()
            '4 samples, T=0.8, top_p=1.0, seed 1'
        """
        if self.greedy:
            return "greedy"
        return f"{self.samples} samples, T={self.resolved_temperature}, top_p={self.top_p}, seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The fields with the temperature actually used.

        Example:
            >>> SamplingConfig().to_dict()["temperature"]
            0.0
        """
        return {**asdict(self), "temperature": self.resolved_temperature}


@dataclass
class Generation:
    """K responses per prompt (prompt order), generated tokens and wall seconds.

    Example:
        >>> g = Generation([["a"], ["b"]], new_tokens=30, seconds=2.0)
        >>> (g.tokens_per_s, g.prompts_per_s)
        (15.0, 1.0)
    """

    responses: list[list[str]]
    new_tokens: int
    seconds: float
    engine: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")

    @property
    def prompts_per_s(self) -> float:
        return len(self.responses) / self.seconds if self.seconds > 0 else float("nan")


def load_policy(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None, dtype: str = "float32"):
    """Load ``(model, tokenizer)`` for generation; a LoRA adapter folder is merged into its base model.

    Example:
        >>> model, tok = load_policy("tiny")  # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verif_nb.train.models import resolve_model

    path = resolve_model(str(source), cache_dir)
    torch_dtype = getattr(torch, dtype) if dtype != "auto" else "auto"
    if isinstance(path, Path) and (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype).merge_and_unload()
        tok_source = path if (path / "tokenizer_config.json").exists() else model.config._name_or_path
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        tok_source = path
    tokenizer = AutoTokenizer.from_pretrained(str(tok_source), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def chat_texts(tokenizer: Any, prompts: Sequence[str], system_prompt: str | None = None) -> list[str]:
    """Each prompt as one user turn (after an optional system turn) in the model's chat template.

    Example:
        >>> from verif_nb.train.models import build_tiny_tokenizer
        >>> import tempfile
        >>> chat_texts(build_tiny_tokenizer(tempfile.mkdtemp()), ["Hi"])[0]
        '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
    """
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [
        tokenizer.apply_chat_template(
            head + [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False
        )
        for p in prompts
    ]


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return ids


def count_new_tokens(rows: Sequence[Sequence[int]], eos_ids: set[int]) -> list[int]:
    """Generated tokens per row, up to and including the first end-of-sequence token (the rest is padding).

    Example:
        >>> count_new_tokens([[5, 6, 2, 0, 0], [7, 8, 9, 4, 3]], {2})
        [3, 5]
    """
    counts = []
    for row in rows:
        n = len(row)
        for i, token in enumerate(row):
            if token in eos_ids:
                n = i + 1
                break
        counts.append(n)
    return counts


class TransformersEngine:
    """Batched ``model.generate`` with left padding; prompts of similar length share a batch.

    ``source`` is any model source :func:`verif_nb.train.models.resolve_model` takes (LoRA folders are
    merged), or pass a loaded ``model`` and ``tokenizer``. ``device="auto"`` puts the model on the GPU when
    there is one.

    Example:
        >>> engine = TransformersEngine("tiny", batch_size=2, progress=False)  # doctest: +SKIP
        >>> engine.generate(["Say hi."], SamplingConfig(max_new_tokens=4)).responses  # doctest: +SKIP
    """

    name = "transformers"

    def __init__(
        self,
        source: str | os.PathLike | None = None,
        batch_size: int = 8,
        dtype: str = "float32",
        system_prompt: str | None = None,
        progress: bool = True,
        model: Any = None,
        tokenizer: Any = None,
        device: str = "auto",
    ):
        if batch_size < 1:
            raise ParamsError(f"batch_size must be at least 1, not {batch_size}")
        if model is None:
            model, tokenizer = load_policy(source, dtype=dtype)
        if tokenizer is None:
            raise ParamsError("TransformersEngine: pass the tokenizer with a loaded model")
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        if str(model.device) != device and not str(model.device).startswith(device):
            model = model.to(device)
        # Left padding keeps every prompt's last token at the end of its row, where generation starts.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.system_prompt, self.progress = batch_size, system_prompt, progress
        self.source = str(source) if source is not None else getattr(model, "name_or_path", "")

    def generate(self, prompts: Sequence[str], config: SamplingConfig, desc: str = "generate") -> Generation:
        """K responses per prompt, in prompt order, with generated-token count and wall time.

        Example:
            >>> TransformersEngine("tiny", progress=False).generate(["Hi"], SamplingConfig(max_new_tokens=2)
            ...                                                      ).new_tokens <= 2  # doctest: +SKIP
            True
        """
        import torch
        from tqdm.auto import tqdm

        texts = chat_texts(self.tokenizer, prompts, self.system_prompt)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        responses: list[list[str]] = [[] for _ in texts]
        eos = _eos_ids(self.model, self.tokenizer)
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if not config.greedy:
            sampling = {
                "do_sample": True,
                "temperature": config.resolved_temperature,
                "top_p": config.top_p,
                "top_k": None,
            }
        new_tokens = 0
        torch.manual_seed(config.seed)
        bar = tqdm(total=len(texts), desc=desc, disable=not self.progress)
        start = time.perf_counter()
        for first in range(0, len(order), self.batch_size):
            idx = order[first : first + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **enc,
                    max_new_tokens=config.max_new_tokens,
                    num_return_sequences=config.samples,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **sampling,
                )
            generated = out[:, enc["input_ids"].shape[1] :]
            new_tokens += sum(count_new_tokens(generated.tolist(), eos))
            decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            for row, text in enumerate(decoded):  # num_return_sequences rows per prompt, consecutive
                responses[idx[row // config.samples]].append(text.strip())
            bar.update(len(idx))
        seconds = time.perf_counter() - start
        bar.close()
        return Generation(responses, new_tokens, seconds, self.name, {"batch_size": self.batch_size})

    def close(self) -> None:
        """Drop the model (frees its memory before the next model loads)."""
        self.model = None


def _vllm_llm(**kwargs: Any) -> Any:
    try:
        from vllm import LLM
    except ImportError as err:
        raise ParamsError(
            f"--engine vllm needs vLLM ({err}); install the gpu extra on a GPU machine: pip install -e '.[gpu]'"
        ) from None
    return LLM(**kwargs)


def _vllm_sampling_params(**kwargs: Any) -> Any:
    try:
        from vllm import SamplingParams
    except ImportError as err:
        raise ParamsError(
            f"--engine vllm needs vLLM ({err}); install the gpu extra on a GPU machine: pip install -e '.[gpu]'"
        ) from None
    return SamplingParams(**kwargs)


class VLLMEngine:
    """vLLM's offline ``LLM.generate`` on chat-templated prompts (one call; vLLM batches internally).

    ``llm_factory(**kwargs)`` builds the ``LLM`` and ``sampling_factory(**kwargs)`` the
    ``SamplingParams``; both default to vLLM's classes, imported only then, and are injectable so the
    configuration is testable without a GPU. A LoRA folder must be merged first (vLLM loads full models).

    Example:
        >>> calls = []
        >>> engine = VLLMEngine("tiny", llm_factory=lambda **kw: calls.append(kw),
        ...                     sampling_factory=dict, tensor_parallel_size=2)
        >>> calls[0]["tensor_parallel_size"], engine.sampling_params(SamplingConfig(max_new_tokens=8))["max_tokens"]
        (2, 8)
    """

    name = "vllm"

    def __init__(
        self,
        source: str | os.PathLike,
        system_prompt: str | None = None,
        dtype: str = "auto",
        seed: int = 0,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        llm_factory: Callable[..., Any] | None = None,
        sampling_factory: Callable[..., Any] | None = None,
        tokenizer: Any = None,
        **llm_kwargs: Any,
    ):
        from pathlib import Path

        from verif_nb.train.models import resolve_model

        path = resolve_model(str(source))
        if isinstance(path, Path) and (path / "adapter_config.json").exists():
            raise ParamsError(
                f"{path} is a LoRA adapter; merge it first (merge_and_unload) or use --engine transformers"
            )
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.tokenizer, self.system_prompt, self.source = tokenizer, system_prompt, str(source)
        self.sampling_factory = sampling_factory or _vllm_sampling_params
        self.llm_kwargs = {
            "model": str(path),
            "tokenizer": str(path),
            "dtype": dtype,
            "seed": seed,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            **llm_kwargs,
        }
        self.llm = (llm_factory or _vllm_llm)(**self.llm_kwargs)

    def sampling_params(self, config: SamplingConfig) -> Any:
        """vLLM ``SamplingParams`` for a config (``temperature=0`` is vLLM's greedy).

        Example:
            >>> engine = VLLMEngine("tiny", llm_factory=lambda **kw: None, sampling_factory=dict)
            >>> engine.sampling_params(SamplingConfig(samples=3, seed=5))["n"]
            3
        """
        return self.sampling_factory(
            n=config.samples,
            temperature=config.resolved_temperature,
            top_p=config.top_p if not config.greedy else 1.0,
            max_tokens=config.max_new_tokens,
            seed=config.seed,
        )

    def generate(self, prompts: Sequence[str], config: SamplingConfig, desc: str = "generate") -> Generation:
        """K responses per prompt from one ``LLM.generate`` call; tokens counted from vLLM's outputs.

        Example:
            >>> VLLMEngine("tiny").generate(["Hi"], SamplingConfig())  # doctest: +SKIP
        """
        texts = chat_texts(self.tokenizer, prompts, self.system_prompt)
        params = self.sampling_params(config)
        start = time.perf_counter()
        outputs = self.llm.generate(texts, params, use_tqdm=True)
        seconds = time.perf_counter() - start
        responses = [[c.text.strip() for c in out.outputs] for out in outputs]
        new_tokens = sum(len(c.token_ids) for out in outputs for c in out.outputs)
        if len(responses) != len(prompts) or any(len(r) != config.samples for r in responses):
            raise RuntimeError(
                f"vLLM returned {[len(r) for r in responses]} samples for {len(prompts)} prompts x {config.samples}"
            )
        return Generation(responses, new_tokens, seconds, self.name, {})

    def close(self) -> None:
        """Drop the engine (vLLM frees the GPU when the ``LLM`` is garbage-collected)."""
        self.llm = None


def make_engine(
    engine: str,
    source: str | os.PathLike,
    batch_size: int = 8,
    system_prompt: str | None = None,
    progress: bool = True,
    seed: int = 0,
    **kwargs: Any,
) -> TransformersEngine | VLLMEngine:
    """The engine named ``engine`` (``transformers`` | ``vllm``) for one model source.

    Example:
        >>> make_engine("onnx", "tiny")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ParamsError: unknown engine 'onnx'; choose transformers or vllm
    """
    if engine == "transformers":
        return TransformersEngine(
            source, batch_size=batch_size, system_prompt=system_prompt, progress=progress, **kwargs
        )
    if engine == "vllm":
        return VLLMEngine(source, system_prompt=system_prompt, seed=seed, **kwargs)
    raise ParamsError(f"unknown engine {engine!r}; choose {' or '.join(ENGINES)}")
