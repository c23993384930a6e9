"""The judge a notebook uses, chosen by flat parameters: the embedded CPU judge, any URL, or none.

Example:
    >>> nj = NotebookJudge.open("none")
    >>> (nj.config, nj.describe())
    (None, 'no judge: only rule mode runs')
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError
from verif_nb.judge.config import JUDGE_KINDS

log = logging.getLogger(__name__)


@dataclass
class NotebookJudge:
    """A judge config plus whatever must be stopped afterwards (the embedded server).

    The embedded server is stopped by :meth:`close`, when the kernel exits (``atexit``), and by
    :func:`~verif_nb.judge.server.embedded_judge`'s watchdog when the kernel is killed, so a failed or
    interrupted run leaves no server behind.
    """

    kind: str
    config: Any = None  # verif_nb.judge.JudgeConfig, or None for kind="none"
    embedded_model: str = ""  # kind="embedded": the model name or .gguf path the server was started with
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @classmethod
    def open(
        cls,
        kind: str,
        *,
        preset: str = "embedded-0.5b",
        base_url: str = "",
        model: str = "",
        embedded_model: str = "qwen2.5-coder-0.5b",
        threads: int = 2,
        cache_dir: str = "",
        **overrides: Any,
    ) -> NotebookJudge:
        """Start or point at the judge.

        ``kind``: ``embedded`` (start the llama.cpp server with ``embedded_model`` on a free port for
        this notebook), ``url`` (use ``base_url``/``model`` — any OpenAI-compatible endpoint), or
        ``none``. ``preset`` is the :class:`~verif_nb.judge.JudgeConfig` preset the other values override;
        empty strings mean "the preset's value".

        Example:
            >>> NotebookJudge.open("url", base_url="http://127.0.0.1:9/v1", model="m").config.model
            'm'
        """
        if kind not in JUDGE_KINDS:
            raise ParamsError(f"judge={kind!r}: choose one of {', '.join(JUDGE_KINDS)}")
        judge = cls(kind, embedded_model=embedded_model if kind == "embedded" else "")
        if kind == "none":
            return judge
        from verif_nb.judge import JudgeConfig

        settings: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        if cache_dir:
            from verif_nb.files import project_path

            settings["cache_dir"] = str(project_path(cache_dir))
        if kind == "url":
            if not base_url:
                raise ParamsError("judge='url' needs judge_base_url (an OpenAI-compatible API root ending in /v1)")
            settings["base_url"] = base_url
            if model:
                settings["model"] = model
            judge.config = JudgeConfig.preset(preset, **settings)
            return judge
        from verif_nb.judge.server import embedded_judge

        preset_values = JudgeConfig.preset(preset).to_dict()
        settings = {k: v for k, v in settings.items() if k not in ("base_url", "model")}
        # The server yields a config for its own port/model; keep the preset's other choices.
        carry = {k: v for k, v in preset_values.items() if k not in ("base_url", "model", "logprobs")}
        logprobs = bool(settings.pop("logprobs", preset_values.get("logprobs", True)))
        judge.config = judge._stack.enter_context(
            embedded_judge(model=embedded_model, threads=threads, logprobs=logprobs, **{**carry, **settings})
        )
        atexit.register(judge.close)  # a killed kernel is covered by embedded_judge's own watchdog
        log.info("embedded judge %s at %s", judge.config.model, judge.config.base_url)
        return judge

    def _model_file(self) -> str:
        """The embedded judge's model file, with the SHA-256 it was checked against when it is a packaged model."""
        from verif_nb.gguf import MODELS

        spec = MODELS.get(self.embedded_model)
        if spec is None:
            return Path(self.embedded_model).name
        parts = f"{spec.dist_prefix}1..{spec.n_parts}=={spec.version}"
        return f"{spec.filename}, sha256 {spec.sha256[:16]}..., from the PyPI packages {parts}"

    def describe(self) -> str:
        """One line saying which judge this is. The embedded server is named by its model file, not by its URL:
        the port exists only while the notebook runs.

        Example:
            >>> NotebookJudge.open("url", base_url="http://gpu:8000/v1", model="m").describe()
            'judge m at http://gpu:8000/v1 (template verif_score_en)'
        """
        if self.config is None:
            return "no judge: only rule mode runs"
        if self.kind == "embedded":
            return (
                f"embedded judge {self.config.model} ({self._model_file()}; a llama.cpp server started for this "
                f"notebook, template {self.config.template})"
            )
        return f"judge {self.config.model} at {self.config.base_url} (template {self.config.template})"

    def ids(self) -> dict[str, Any]:
        """What names this judge in a run's manifest: its model and where it is served (a URL only for a server
        that outlives the notebook).

        Example:
            >>> NotebookJudge.open("none").ids()
            {'judge_model': None, 'judge_served_by': 'no judge'}
        """
        if self.config is None:
            return {"judge_model": None, "judge_served_by": "no judge"}
        if self.kind == "embedded":
            return {"judge_model": self.config.model, "judge_served_by": f"embedded llama.cpp: {self._model_file()}"}
        return {"judge_model": self.config.model, "judge_served_by": self.config.base_url}

    def close(self) -> None:
        """Stop the embedded server, if this object started one (safe to call twice)."""
        self._stack.close()

    def __enter__(self) -> NotebookJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
