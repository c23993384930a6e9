"""The LLM judge: an OpenAI-compatible client with retries, a persistent cache and cost accounting,
prompt templates as data, and an embedded CPU judge (llama.cpp server + a GGUF model from PyPI).

Example:
    >>> from verif_nb.judge import JudgeClient, JudgeConfig
    >>> client = JudgeClient(JudgeConfig.preset("embedded-0.5b"))  # nothing connects until it judges
    >>> client.config.template
    'verif_score_en'
"""

from verif_nb.judge.cache import AnswerCache
from verif_nb.judge.client import (
    JudgeClient,
    JudgeOutcome,
    JudgeRequest,
    JudgeStats,
    p_yes_from_logprobs,
)
from verif_nb.judge.config import PRESETS, JudgeConfig
from verif_nb.judge.templates import (
    JudgeTemplate,
    format_constraints,
    get_template,
    list_templates,
    load_template_dir,
    load_template_file,
    parse_verdict,
    register_template,
    strip_think,
)

__all__ = [
    "PRESETS",
    "AnswerCache",
    "JudgeClient",
    "JudgeConfig",
    "JudgeOutcome",
    "JudgeRequest",
    "JudgeStats",
    "JudgeTemplate",
    "format_constraints",
    "get_template",
    "list_templates",
    "load_template_dir",
    "load_template_file",
    "p_yes_from_logprobs",
    "parse_verdict",
    "register_template",
    "strip_think",
]
