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
        >>> verif_score("[[" + "7" * 5000 + "]]")
        0
    """
    match = _SCORE.search(reply or "")
    try:  # the original's bare except: a number int() refuses (over 4,300 digits) scores 0 too
        return int(match.group(1)) if match else 0
    except ValueError:
        return 0


@dataclass(frozen=True)
class _Expression:
    """A prompt expression from the original file, rendered without executing anything."""

    node: ast.expr
    constants: dict[str, ast.expr]
    source: str

    def render(self, values: dict[str, Any]) -> str:
        return str(self._eval(self.node, values))

    def tree(self, node: ast.expr | None = None) -> list:
        """The expression as JSON lists, for the sandbox's ``llm_call`` module to render with the real argument
        objects (``verif_nb/sandbox/_llm_call.py``): ``["s", text]``, ``["f", parts]`` (an f-string),
        ``["v", expr, conversion, spec]`` (one of its fields), ``["+", left, right]``, ``["r", target, old, new]``
        (``.replace``), ``["n", name, constant]`` (a parameter, else the constant it names). Only what
        :meth:`render` evaluates; anything else is the same ParamsError."""
        node = self.node if node is None else node
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return ["s", node.value]
        if isinstance(node, ast.JoinedStr):
            return ["f", [self.tree(part) for part in node.values]]
        if isinstance(node, ast.FormattedValue):
            spec = self.tree(node.format_spec) if node.format_spec is not None else None
            return ["v", self.tree(node.value), node.conversion, spec]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return ["+", self.tree(node.left), self.tree(node.right)]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace"
            and len(node.args) == 2
            and not node.keywords
        ):
            return ["r", self.tree(node.func.value), self.tree(node.args[0]), self.tree(node.args[1])]
        if isinstance(node, ast.Name):
            constant = self.constants.get(node.id)
            return ["n", node.id, None if constant is None else self.tree(constant)]
        raise ParamsError(
            f"{self.source}, line {getattr(node, 'lineno', '?')}: the prompt expression uses "
            f"{ast.dump(node)[:80]}, which verif-nb does not evaluate; is this VerIF's llm_call.py?"
        )

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
        if (  # llm_judge's template.replace("$R$", response)...: str.replace itself, so odd values fail as there
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace"
            and len(node.args) == 2
            and not node.keywords
        ):
            target = self._eval(node.func.value, values)
            if isinstance(target, str):
                return target.replace(*(self._eval(arg, values) for arg in node.args))
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
class OriginalJudge:
    """What VerIF's ``llm_judge`` does besides its prompt, read from the file: a list response is joined with
    ``join``, and the verdict is ``reply[0] == yes``.

    Example:
        >>> OriginalJudge(None, 128, "\\n", "y").yes
        'y'
    """

    prompt: _Expression | None
    max_tokens: int
    join: str | None
    yes: str


@dataclass(frozen=True)
class OriginalPrompts:
    """The ``llm_score``, ``llm_extract`` and ``llm_judge`` prompts of a VerIF ``llm_call.py``, their
    ``max_tokens``, and the temperature its ``generate_chat`` sends.

    Example:
        >>> OriginalPrompts.__name__
        'OriginalPrompts'
    """

    path: str
    score: _Expression
    score_max_tokens: int
    extract: _Expression | None
    extract_max_tokens: int | None
    judge: OriginalJudge | None = None
    temperature: float = 0.0
    chat_max_tokens: int = 128  # generate_chat's default max_tokens
    constants: tuple[tuple[str, str], ...] = ()  # the module's string constants (prompt_template, api_url...)

    def for_sandbox(self) -> dict[str, Any]:
        """What the reference profile's sandboxed ``llm_call`` module needs to do what the original's functions
        do, in the child, on the rule's own argument objects (JSON: prompt expressions as :meth:`_Expression.tree`
        lists); only the finished request crosses to the caller.

        Example:
            >>> import tempfile, os
            >>> src = ('t = "C:$C$"\\ndef generate_chat(messages, max_tokens=64, temperature=0.5):\\n    pass\\n'
            ...        'def llm_score(instruction, response, checkers):\\n'
            ...        '    prompt = f"{checkers!r}"\\n    return generate_chat(data, max_tokens=7)\\n')
            >>> with tempfile.TemporaryDirectory() as d:
            ...     path = os.path.join(d, "llm_call.py"); _ = open(path, "w").write(src)
            ...     spec = load_original_prompts(path).for_sandbox()
            >>> spec["score"], spec["score_max_tokens"], spec["chat"], spec["constants"]
            (['f', [['v', ['n', 'checkers', None], 114, None]]], 7, [64, 0.5], {'t': 'C:$C$'})
        """
        judge = self.judge
        return {
            "score": self.score.tree(),
            "score_max_tokens": self.score_max_tokens,
            "extract": self.extract.tree() if self.extract is not None else None,
            "extract_max_tokens": self.extract_max_tokens,
            "judge": None
            if judge is None or judge.prompt is None
            else {"prompt": judge.prompt.tree(), "max_tokens": judge.max_tokens, "join": judge.join, "yes": judge.yes},
            "chat": [self.chat_max_tokens, self.temperature],
            "constants": dict(self.constants),
        }

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


def _chat_defaults(tree: ast.Module) -> dict[str, Any]:
    """The constant defaults of ``generate_chat``'s parameters (``max_tokens``, ``temperature``)."""
    function = _function(tree, "generate_chat")
    if function is None:
        return {}
    args = function.args.args[len(function.args.args) - len(function.args.defaults) :]
    return {
        arg.arg: default.value
        for arg, default in zip(args, function.args.defaults)
        if isinstance(default, ast.Constant) and isinstance(default.value, (int, float))
    }


def _judge_parts(tree: ast.Module, function: ast.FunctionDef, source: str, constants: dict) -> OriginalJudge:
    """llm_judge's prompt, its list separator and the verdict character, read from its code."""
    prompt, max_tokens = _prompt_and_tokens(function, source, constants, _chat_defaults(tree).get("max_tokens"))
    join = yes = None
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant)
        ):
            join = node.func.value.value
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Subscript)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.Eq)
            and isinstance(node.comparators[0], ast.Constant)
        ):
            yes = node.comparators[0].value
    if not isinstance(yes, str):
        raise ParamsError(f"{source}: llm_judge compares no reply character with a constant")
    return OriginalJudge(prompt, max_tokens, join, yes)


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, (ast.Constant, ast.JoinedStr))
    }


def _prompt_and_tokens(
    function: ast.FunctionDef,
    source: str,
    module_constants: dict[str, ast.expr] | None = None,
    default_max_tokens: int | None = None,
) -> tuple[_Expression, int]:
    constants: dict[str, ast.expr] = dict(module_constants or {})
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
    max_tokens = default_max_tokens
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
    module = _module_constants(tree)
    score_prompt, score_tokens = _prompt_and_tokens(score, source, module)
    extract = _function(tree, "llm_extract")
    extract_prompt, extract_tokens = _prompt_and_tokens(extract, source, module) if extract else (None, None)
    judge = _function(tree, "llm_judge")
    defaults = _chat_defaults(tree)
    temperature = float(defaults.get("temperature", 0.0))
    strings = tuple(
        (name, node.value)
        for name, node in module.items()
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )
    return OriginalPrompts(
        source,
        score_prompt,
        score_tokens,
        extract_prompt,
        extract_tokens,
        _judge_parts(tree, judge, source, module) if judge else None,
        temperature,
        int(defaults.get("max_tokens", 128)),
        strings,
    )


@dataclass(frozen=True)
class NotText:
    """A judge reply whose ``message.content`` is not a string (null, a list of parts): VerIF's client hands it
    on and its ``.strip()`` raises AttributeError.

    Example:
        >>> NotText("NoneType").type_name
        'NoneType'
    """

    type_name: str


class OriginalCalls:
    """VerIF's ``llm_extract``, ``llm_score`` and ``llm_judge`` as rule code calls them, over ``chat``.

    ``chat(messages, max_tokens, temperature)`` sends one request and returns what VerIF's ``APIModel`` hands
    back: the reply's content (``"NA"`` when the call failed in any way), or :class:`NotText`. Each call then does
    what the original does with it: ``.strip()`` (AttributeError for a non-string content), the first ``[[n]]``
    for ``llm_score``, ``reply[0] == yes`` for ``llm_judge`` (IndexError for an empty reply). Arguments are used as
    the original uses them, so an odd argument fails as it would there.

    Example:
        >>> import tempfile, os
        >>> src = ('def llm_extract(instruction, response, specific_prompt):\\n'
        ...        '    prompt = f"T:{response} Q:{specific_prompt}"\\n    return extract_chat(data, max_tokens=9)\\n'
        ...        'def llm_score(instruction, response, checkers):\\n'
        ...        '    prompt = f"{checkers}"\\n    return generate_chat(data, max_tokens=7)\\n')
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "llm_call.py"); _ = open(path, "w").write(src)
        ...     calls = OriginalCalls(load_original_prompts(path), lambda m, n, t: f" [[1]] {m[0]['content']} ")
        >>> calls.llm_extract("instruction", "text", "the title"), calls.llm_score("i", "r", ["c"])
        ('[[1]] T:text Q:the title', 1)
    """

    def __init__(self, prompts: OriginalPrompts, chat: Any):
        self.prompts, self.chat = prompts, chat

    def _generate(self, content: str, max_tokens: int) -> str:
        reply = self.chat([{"role": "user", "content": content}], max_tokens, self.prompts.temperature)
        if isinstance(reply, NotText):
            raise AttributeError(f"'{reply.type_name}' object has no attribute 'strip'")
        return reply.strip()

    def generate_chat(self, messages: Any, max_tokens: Any = 128, temperature: Any = 0.0) -> str:
        """The original's ``generate_chat`` / ``extract_chat``: one request, its reply stripped (``"NA"`` when the
        call failed). The reference profile's sandboxed ``llm_call`` builds the messages as the original does, on
        the rule's own objects, and sends only them here."""
        reply = self.chat(messages, max_tokens, temperature)
        if isinstance(reply, NotText):
            raise AttributeError(f"'{reply.type_name}' object has no attribute 'strip'")
        return reply.strip()

    def llm_extract(self, instruction: Any, response: Any, specific_prompt: Any) -> str:
        """The judge's extraction, stripped ("NA" when the call failed)."""
        if self.prompts.extract is None or self.prompts.extract_max_tokens is None:
            raise NameError(f"{self.prompts.path} defines no llm_extract")
        values = {"instruction": instruction, "response": response, "specific_prompt": specific_prompt}
        return self._generate(self.prompts.extract.render(values), self.prompts.extract_max_tokens)

    def llm_score(self, instruction: Any, response: Any, checkers: Any) -> int:
        """The first ``[[n]]`` of the judge's reply as an int, 0 when there is none."""
        values = {"instruction": instruction, "response": response, "checkers": checkers}
        return verif_score(self._generate(self.prompts.score.render(values), self.prompts.score_max_tokens))

    def llm_judge(self, instruction: Any, response: Any, constraint: Any) -> bool:
        """Whether the judge's reply starts with the yes character."""
        judge = self.prompts.judge
        if judge is None or judge.prompt is None:
            raise NameError(f"{self.prompts.path} defines no llm_judge")
        if judge.join is not None and isinstance(response, list):
            response = judge.join.join(response)
        values = {"instruction": instruction, "response": response, "constraint": constraint}
        reply = self._generate(judge.prompt.render(values), judge.max_tokens)
        return reply[0] == judge.yes


def is_original_llm_call(path: str | Path) -> bool:
    """True when ``path`` is a Python file (an original ``llm_call.py``) rather than a verif-nb YAML template.

    Example:
        >>> is_original_llm_call("llm_call.py"), is_original_llm_call("mine.yaml")
        (True, False)
    """
    return str(path).endswith(".py")
