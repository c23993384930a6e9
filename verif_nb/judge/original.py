"""VerIF's own judge prompts, read from the user's copy of the original ``llm_call.py`` (never shipped here).

The ``reference`` profile must send the judge byte-identical messages, and verif-nb must not contain the original
prompt text. So the prompts are read at run time from the file the user points at
(``--judge-template-file PATH/llm_call.py``): the module is parsed with :mod:`ast` (never imported or executed),
and the f-strings that build the ``llm_score`` and ``llm_extract`` prompts are rendered by a small evaluator that
knows constants, f-string fields naming the function's parameters, ``+`` and local string constants. Anything
else in those expressions is an error naming the file and line, so a changed upstream file fails loudly.

The original's reply handling is behaviour, not text, and lives in :func:`verif_score`: the first ``[[n]]``
anywhere in the stripped reply, as an int, unclamped; no match scores 0.

Example:
    >>> import tempfile, os
    >>> src = ('def llm_score(instruction, response, checkers):\\n'
    ...        '    prompt = f"I:{instruction} R:{response} C:{checkers}"\\n'
    ...        '    data = [{"role": "user", "content": prompt}]\\n    return generate_chat(data, max_tokens=7)\\n')
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "llm_call.py"); _ = open(path, "w").write(src)
    ...     prompts = load_original_prompts(path)
    >>> prompts.score_messages("do x", "done", ["[llm] tone"])
    [{'role': 'user', 'content': "I:do x R:done C:['[llm] tone']"}]
    >>> prompts.score_max_tokens, verif_score("[[1]] then [[0]]"), verif_score("no verdict")
    (7, 1, 0)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError

_SCORE = re.compile(r"\[\[(\d+)\]\]")


def verif_score(reply: str | None) -> int:
    """The original's score of a judge reply: the first ``[[n]]`` anywhere as an int (unclamped), else 0.

    Example:
        >>> verif_score("<think>[[0]]</think>[[1]]"), verif_score("[[2]]"), verif_score(None)
        (0, 2, 0)
    """
    match = _SCORE.search(reply or "")
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class _Expression:
    """A prompt expression from the original file, rendered without executing anything."""

    node: ast.expr
    constants: dict[str, ast.expr]
    source: str

    def render(self, values: dict[str, Any]) -> str:
        return str(self._eval(self.node, values))

    def _eval(self, node: ast.expr, values: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(str(self._eval(part, values)) for part in node.values)
        if isinstance(node, ast.FormattedValue):
            value = self._eval(node.value, values)
            value = {-1: value, 115: str(value), 114: repr(value), 97: ascii(value)}[node.conversion]
            spec = self._eval(node.format_spec, values) if node.format_spec is not None else ""
            return format(value, spec)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._eval(node.left, values) + self._eval(node.right, values)
        if isinstance(node, ast.Name):
            if node.id in values:
                return values[node.id]
            if node.id in self.constants:
                return self._eval(self.constants[node.id], values)
        raise ParamsError(
            f"{self.source}, line {getattr(node, 'lineno', '?')}: the prompt expression uses "
            f"{ast.dump(node)[:80]}, which verif-nb does not evaluate; is this VerIF's llm_call.py?"
        )


@dataclass(frozen=True)
class OriginalPrompts:
    """The ``llm_score`` and ``llm_extract`` prompts of a VerIF ``llm_call.py`` and their ``max_tokens``.

    Example:
        >>> OriginalPrompts.__name__
        'OriginalPrompts'
    """

    path: str
    score: _Expression
    score_max_tokens: int
    extract: _Expression | None
    extract_max_tokens: int | None

    def score_messages(self, instruction: str, response: str, checkers: list[str]) -> list[dict[str, str]]:
        """The one user message ``llm_score`` sends (``checkers``: the ``[llm]`` checker names, as a list)."""
        return [
            {
                "role": "user",
                "content": self.score.render(
                    {"instruction": instruction, "response": response, "checkers": list(checkers)}
                ),
            }
        ]

    def extract_messages(self, instruction: str, response: str, specific_prompt: str) -> list[dict[str, str]]:
        """The one user message ``llm_extract`` sends."""
        if self.extract is None:
            raise ParamsError(f"{self.path} defines no llm_extract prompt")
        return [
            {
                "role": "user",
                "content": self.extract.render(
                    {"instruction": instruction, "response": response, "specific_prompt": specific_prompt}
                ),
            }
        ]


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _prompt_and_tokens(function: ast.FunctionDef, source: str) -> tuple[_Expression, int]:
    constants: dict[str, ast.expr] = {}
    prompt: ast.expr | None = None
    for node in function.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if target == "prompt":
                prompt = node.value
            elif isinstance(node.value, (ast.Constant, ast.JoinedStr)):
                constants[target] = node.value
    if prompt is None:
        raise ParamsError(f"{source}: {function.name} assigns no 'prompt'; is this VerIF's llm_call.py?")
    max_tokens = None
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "max_tokens" and isinstance(keyword.value, ast.Constant):
                    max_tokens = int(keyword.value.value)
    if max_tokens is None:
        raise ParamsError(f"{source}: {function.name} passes no constant max_tokens to the model")
    return _Expression(prompt, constants, source), max_tokens


def load_original_prompts(path: str | Path) -> OriginalPrompts:
    """Reads the judge prompts from VerIF's ``llm_call.py`` at ``path`` (parsed, never run).

    Raises ParamsError naming the file when it is missing, unparsable, or lacks ``llm_score``'s prompt.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ParamsError(f"{source}: cannot read the judge template file ({err})") from None
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise ParamsError(f"{source}, line {err.lineno}: not Python ({err.msg})") from None
    score = _function(tree, "llm_score")
    if score is None:
        raise ParamsError(
            f"{source} defines no llm_score; point --judge-template-file at VerIF's "
            "verl/utils/reward_score/local_server/llm_call.py"
        )
    score_prompt, score_tokens = _prompt_and_tokens(score, source)
    extract = _function(tree, "llm_extract")
    extract_prompt, extract_tokens = _prompt_and_tokens(extract, source) if extract else (None, None)
    return OriginalPrompts(source, score_prompt, score_tokens, extract_prompt, extract_tokens)


def is_original_llm_call(path: str | Path) -> bool:
    """True when ``path`` is a Python file (an original ``llm_call.py``) rather than a verif-nb YAML template.

    Example:
        >>> is_original_llm_call("llm_call.py"), is_original_llm_call("mine.yaml")
        (True, False)
    """
    return str(path).endswith(".py")
