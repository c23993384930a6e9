"""Judge prompt templates: YAML data files, looked up by name, parsed by a named answer parser.

A template file holds ``name``, ``description``, an optional ``system`` message, a ``user`` message
with the fields ``{prompt}``, ``{response}`` and either ``{constraints}`` (all constraints, one call
per response — VerIF's ``llm_score``) or ``{constraint}`` (one constraint per call — VerIF's
``llm_judge``), and ``parser``: ``bracket`` (the ``[[1]]``/``[[0]]`` in the answer; both in one
answer is a conflict, unparseable), ``bracket_first`` / ``bracket_last`` (the first / last of them
counts, for a template that defines it so) or ``yes_no`` (an answer that starts with yes/no, 是/否).

Built-in templates live in ``verif_nb/judge/templates/*.yaml``. Add your own with
:func:`register_template`, :func:`load_template_file` or :func:`load_template_dir`, or pass a path
to a ``.yaml`` file wherever a template name is accepted.

Example:
    >>> t = get_template("verif_score_en")
    >>> (t.parser, t.scope)
    ('bracket', 'all')
    >>> parse_verdict("[[0]] The response has 3 bullets.", "bracket").passed
    False
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from verif_nb.errors import JudgeError, ParamsError
from verif_nb.files import read_yaml
from verif_nb.judge.original import verif_score

ParserKind = Literal["bracket", "bracket_first", "bracket_last", "yes_no", "verif_first", "text"]
# verif_first: the original VerIF rule (first [[n]] anywhere, no match = 0); text: no verdict, the answer itself
PARSERS: tuple[str, ...] = ("bracket", "bracket_first", "bracket_last", "yes_no", "verif_first", "text")
_BUILTIN_DIR = Path(__file__).with_name("templates")
_FIELD_RE = re.compile(r"\{(prompt|response|constraints|constraint)\}")
_TEMPLATE_KEYS = {"name", "description", "system", "user", "parser", "language"}

_registry: dict[str, JudgeTemplate] = {}
_builtins_loaded = False
_builtins_lock = threading.Lock()


@dataclass(frozen=True)
class JudgeTemplate:
    """One judge prompt.

    ``scope`` is ``"all"`` when the user message takes ``{constraints}`` (one call per response) and
    ``"one"`` when it takes ``{constraint}`` (one call per constraint). ``text_hash`` changes whenever
    the wording or the parser changes, so cached answers of an edited template are not reused.

    Example:
        >>> t = JudgeTemplate(name="mine", user="Q: {prompt}\\nA: {response}\\nRule: {constraint}", parser="yes_no")
        >>> t.scope
        'one'
    """

    name: str
    user: str
    parser: ParserKind
    system: str | None = None
    description: str = ""
    language: str | None = None
    source: str | None = None
    max_tokens: int | None = None  # the template's own answer budget, else the JudgeConfig's

    def __post_init__(self) -> None:
        where = self.source or f"template {self.name!r}"
        if self.parser not in PARSERS:
            raise JudgeError(f"{where}: parser must be one of {PARSERS}, not {self.parser!r}")
        fields = set(_FIELD_RE.findall(self.user))
        if "response" not in fields:
            raise JudgeError(f"{where}: the user message must contain the field {{response}}")
        if ("constraints" in fields) == ("constraint" in fields):
            raise JudgeError(
                f"{where}: the user message must contain exactly one of {{constraints}} "
                "(all constraints in one call) or {constraint} (one call per constraint)"
            )

    @property
    def scope(self) -> Literal["all", "one"]:
        return "all" if "{constraints}" in self.user else "one"

    @property
    def text_hash(self) -> str:
        body = "\x00".join([self.system or "", self.user, self.parser])
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    def render(self, prompt: str, response: str, constraints: list[str]) -> list[dict[str, str]]:
        """Chat messages for one judgment. Fields are substituted literally (braces in the data are safe).

        Example:
            >>> get_template("verif_judge_en").render("Say hi.", "hi", ["Use lowercase."])[-1]["role"]
            'user'
        """
        if self.scope == "one" and len(constraints) != 1:
            raise JudgeError(
                f"template {self.name!r} judges one constraint per call; got {len(constraints)} — "
                "use a {constraints} template such as 'verif_score_en' for several at once"
            )
        values = {
            "prompt": prompt,
            "response": response,
            "constraint": constraints[0] if constraints else "",
            "constraints": format_constraints(constraints),
        }
        user = _FIELD_RE.sub(lambda m: values[m.group(1)], self.user)
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": user})
        return messages


@dataclass(frozen=True)
class OriginalTemplate(JudgeTemplate):
    """A prompt read from VerIF's own ``llm_call.py`` (see :mod:`verif_nb.judge.original`): its messages are
    the original's, byte for byte; ``{constraints}`` is the list of ``[llm]`` checker names, possibly empty.

    Example:
        >>> OriginalTemplate.__mro__[1].__name__
        'JudgeTemplate'
    """

    expression: Any = None  # a verif_nb.judge.original prompt expression
    fields: tuple[str, ...] = ("instruction", "response", "checkers")

    def __post_init__(self) -> None:
        if self.parser not in PARSERS:
            raise JudgeError(f"{self.source}: parser must be one of {PARSERS}, not {self.parser!r}")

    @property
    def scope(self) -> Literal["all", "one"]:
        return "all"

    @property
    def text_hash(self) -> str:
        body = "\x00".join([ast_dump(self.expression.node), self.parser, str(self.max_tokens)])
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    def render(self, prompt: str, response: str, constraints: list[str]) -> list[dict[str, str]]:
        # llm_score takes the list of [llm] checker names; llm_extract one extraction request
        third = list(constraints) if self.fields[2] == "checkers" else (constraints[0] if constraints else "")
        values = dict(zip(self.fields, (prompt, response, third)))
        return [{"role": "user", "content": self.expression.render(values)}]


def ast_dump(node: Any) -> str:
    import ast

    return ast.dump(node)


def original_templates(path: str | Path) -> tuple[OriginalTemplate, OriginalTemplate | None]:
    """The score and extract prompts of VerIF's ``llm_call.py`` as templates, registered by name.

    Example:
        >>> original_templates("missing/llm_call.py")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: missing/llm_call.py: cannot read the judge template file (...)
    """
    from verif_nb.judge.original import load_original_prompts

    prompts = load_original_prompts(path)
    score = OriginalTemplate(
        name="verif_original_score",
        user="",
        parser="verif_first",
        source=prompts.path,
        description="VerIF's llm_score prompt, read from the user's llm_call.py",
        max_tokens=prompts.score_max_tokens,
        expression=prompts.score,
    )
    register_template(score, overwrite=True)
    extract = None
    if prompts.extract is not None:
        extract = OriginalTemplate(
            name="verif_original_extract",
            user="",
            parser="text",
            source=prompts.path,
            description="VerIF's llm_extract prompt, read from the user's llm_call.py",
            max_tokens=prompts.extract_max_tokens,
            expression=prompts.extract,
            fields=("instruction", "response", "specific_prompt"),
        )
        register_template(extract, overwrite=True)
    return score, extract


def format_constraints(constraints: list[str]) -> str:
    """Numbered list, one constraint a line, as the ``{constraints}`` field shows them.

    Example:
        >>> print(format_constraints(["Be brief.", "Use a formal tone."]))
        1. Be brief.
        2. Use a formal tone.
    """
    return "\n".join(f"{i}. {c.strip()}" for i, c in enumerate(constraints, 1))


def _template_from_mapping(data: Any, source: str) -> JudgeTemplate:
    if not isinstance(data, dict):
        raise JudgeError(f"{source}: a judge template must be a YAML mapping with name, user and parser")
    unknown = set(data) - _TEMPLATE_KEYS
    if unknown:
        raise JudgeError(f"{source}: unknown template keys {sorted(unknown)}; allowed: {sorted(_TEMPLATE_KEYS)}")
    missing = {"name", "user", "parser"} - set(data)
    if missing:
        raise JudgeError(f"{source}: missing template keys {sorted(missing)}")
    return JudgeTemplate(
        name=str(data["name"]),
        user=str(data["user"]),
        parser=data["parser"],
        system=data.get("system"),
        description=str(data.get("description", "")).strip(),
        language=data.get("language"),
        source=source,
    )


def load_template_file(path: str | Path, register: bool = True) -> JudgeTemplate:
    """Read one template from a YAML file (and register it under its name unless ``register=False``).

    Example:
        >>> load_template_file(_BUILTIN_DIR / "verif_judge_en.yaml", register=False).parser
        'yes_no'
    """
    path = Path(path)
    try:
        data = read_yaml(path, "judge template")
    except (OSError, ParamsError) as err:
        raise JudgeError(f"cannot read judge template: {err}") from err
    template = _template_from_mapping(data, str(path))
    if register:
        register_template(template, overwrite=True)
    return template


def load_template_dir(directory: str | Path) -> list[JudgeTemplate]:
    """Register every ``*.yaml`` template in a directory (later files replace same-named ones).

    Example:
        >>> sorted(t.name for t in load_template_dir(_BUILTIN_DIR))[:3]
        ['verif_extract_en', 'verif_judge_en', 'verif_judge_zh']
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise JudgeError(f"{directory}: not a directory of judge templates")
    return [load_template_file(p) for p in sorted(directory.glob("*.yaml"))]


def _ensure_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _builtins_lock:  # the judge's threads look templates up at once: none may see a half-filled registry
        if not _builtins_loaded:
            for path in sorted(_BUILTIN_DIR.glob("*.yaml")):
                template = load_template_file(path, register=False)
                _registry.setdefault(template.name, template)
            _builtins_loaded = True


def register_template(template: JudgeTemplate | dict[str, Any], overwrite: bool = False) -> JudgeTemplate:
    """Make a template selectable by name; a dict is validated like a YAML file.

    Example:
        >>> t = register_template({"name": "doc_demo", "user": "{response} / {constraint}", "parser": "yes_no"})
        >>> get_template("doc_demo") is t
        True
    """
    _ensure_builtins()
    if isinstance(template, dict):
        template = _template_from_mapping(template, f"template {template.get('name')!r}")
    if template.name in _registry and not overwrite and _registry[template.name] != template:
        raise JudgeError(f"a judge template named {template.name!r} already exists; pass overwrite=True to replace it")
    _registry[template.name] = template
    return template


def get_template(name_or_path: str | Path | JudgeTemplate) -> JudgeTemplate:
    """The template with this name, or read from this ``.yaml`` path.

    Example:
        >>> get_template("verif_score_zh").language
        'zh'
    """
    if isinstance(name_or_path, JudgeTemplate):
        return name_or_path
    _ensure_builtins()
    key = str(name_or_path)
    if key in _registry:
        return _registry[key]
    if key.endswith((".yaml", ".yml")) and Path(key).is_file():
        return load_template_file(key, register=False)
    raise JudgeError(
        f"unknown judge template {key!r}; known: {', '.join(list_templates())} "
        "(or pass a path to a .yaml template file)"
    )


def list_templates() -> list[str]:
    """Names of every registered template.

    Example:
        >>> {"verif_score_zh", "verif_judge_zh", "verif_score_en", "verif_judge_en"} <= set(list_templates())
        True
    """
    _ensure_builtins()
    return sorted(_registry)


# ---------------------------------------------------------------------------------------------
# Answer parsing


@dataclass(frozen=True)
class ParsedVerdict:
    """A parsed judge answer: ``passed`` None means unparseable, then ``error`` says why.

    ``offset`` is the character position of the verdict token in the full raw answer (for log-probs).
    """

    passed: bool | None
    error: str | None = None
    offset: int | None = None


_BRACKET_RE = re.compile(r"\[\[\s*([01])\s*\]\]")
_VERIF_FIRST_RE = re.compile(r"\[\[(\d+)\]\]")
_YES = {"yes", "y", "true", "是"}
_NO = {"no", "n", "false", "否", "不"}
_WORD_RE = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]")
_THINK_CLOSE = "</think>"


def strip_think(text: str) -> str:
    """The text after the last ``</think>`` (the whole text when there is none), as VerIF does.

    Example:
        >>> strip_think("<think>maybe [[0]]</think>\\n[[1]] fine")
        '\\n[[1]] fine'
        >>> strip_think("plain answer")
        'plain answer'
    """
    cut = text.rfind(_THINK_CLOSE)
    return text if cut < 0 else text[cut + len(_THINK_CLOSE) :]


def _answer_start(raw: str) -> int:
    cut = raw.rfind(_THINK_CLOSE)
    return 0 if cut < 0 else cut + len(_THINK_CLOSE)


def parse_verdict(raw: str | None, parser: ParserKind) -> ParsedVerdict:
    """Read the verdict from a judge answer, after any ``</think>``.

    ``bracket`` takes the ``[[1]]``/``[[0]]`` of the answer: a judge that quotes ``[[1]]`` from the
    response and then answers ``[[0]]`` gave conflicting verdicts, which is unparseable, not a guess;
    ``bracket_first``/``bracket_last`` take the first/last (the template says which counts); ``yes_no``
    takes a leading yes/no (是/否), or the only one of the two words present. Anything else is
    unparseable (passed=None), never a guess.

    Example:
        >>> parse_verdict("<think>hmm</think> No, it uses commas.", "yes_no").passed
        False
        >>> parse_verdict("I cannot tell.", "yes_no").passed is None
        True
        >>> [parse_verdict('It says "[[1]]". Verdict: [[0]]', p).passed for p in ("bracket", "bracket_last")]
        [None, False]
    """
    if parser == "text":
        return ParsedVerdict(raw is not None, None if raw is not None else "no answer")
    if parser == "verif_first":  # the original's own rule: no </think> handling, no clamping, no match = 0
        m = _VERIF_FIRST_RE.search((raw or "").strip())
        return ParsedVerdict(verif_score(raw) != 0, None, m.start(1) if m else None)
    if raw is None or not raw.strip():
        return ParsedVerdict(None, "the judge returned an empty answer")
    start = _answer_start(raw)
    answer = raw[start:]
    if start == 0 and "<think>" in raw:
        return ParsedVerdict(None, "the judge's reasoning was cut off before </think>; raise max_tokens")
    if parser in ("bracket", "bracket_first", "bracket_last"):
        matches = list(_BRACKET_RE.finditer(answer))
        if not matches:
            return ParsedVerdict(None, "no [[1]] or [[0]] in the judge's answer")
        if parser == "bracket" and len({m.group(1) for m in matches}) > 1:
            return ParsedVerdict(
                None,
                "conflicting verdicts: both [[1]] and [[0]] in the judge's answer (a template with parser "
                "bracket_first or bracket_last says which one counts)",
            )
        m = matches[-1] if parser == "bracket_last" else matches[0]
        return ParsedVerdict(m.group(1) == "1", None, start + m.start(1))
    words = [(m.group(0).lower(), m.start()) for m in _WORD_RE.finditer(answer)]
    if words:
        first, pos = words[0]
        if first in _YES or first in _NO:
            return ParsedVerdict(first in _YES, None, start + pos)
    # Later in the text only the words yes/no count: single CJK characters such as 是 are too common.
    yes = [(w, p) for w, p in words if w == "yes"]
    no = [(w, p) for w, p in words if w == "no"]
    if yes and not no:
        return ParsedVerdict(True, None, start + yes[0][1])
    if no and not yes:
        return ParsedVerdict(False, None, start + no[0][1])
    what = "both yes and no" if yes else "neither yes nor no"
    return ParsedVerdict(None, f"the judge's answer contains {what}")


def verdict_token_sets(parser: ParserKind) -> tuple[set[str], set[str]]:
    """Normalised tokens that mean yes / no at the verdict position (for log-prob p_yes).

    Example:
        >>> verdict_token_sets("bracket")
        ({'1'}, {'0'})
    """
    if parser.startswith("bracket") or parser == "verif_first":
        return {"1"}, {"0"}
    return {"yes", "y", "是", "true"}, {"no", "n", "否", "false", "不"}
