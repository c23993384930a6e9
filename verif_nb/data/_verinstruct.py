"""VerInstruct rows (id, prompt, checkers, functions [, responses]) into Records.

Dataset code is only ever parsed (``ast``) and compiled to check it, never executed here: running it is
the sandbox's job.
"""

from __future__ import annotations

import ast
import re
import typing
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from verif_nb.data._io import RawRow
from verif_nb.data._result import RowDropped
from verif_nb.errors import DataError
from verif_nb.records import Constraint, LabelledResponse, Record
from verif_nb.sandbox import DEFAULT_ALLOWED_IMPORTS
from verif_nb.sandbox import validate_code as screen_code

# "verif" reads a row as VerIF's reward does: "[llm]" / "[rule]" anywhere in the name (case-sensitive, [llm]
# first), anything else dropped; checkers and functions zipped (the shorter list wins), an empty checker list and an
# empty prompt accepted, dataset code kept as written (the if_prompts.py prelude included: its `import sys` reaches
# the rule's globals there). The reference profile loads data this way.
Untagged = Literal["error", "rule", "llm", "drop", "verif"]
UNTAGGED_POLICIES: tuple[str, ...] = typing.get_args(Untagged)
LLM_CALLS: frozenset[str] = frozenset({"llm_judge", "llm_score", "llm_extract"})
_FIELDS = frozenset({"id", "prompt", "checkers", "functions", "responses", "dropped_checkers"})
_TAG = re.compile(r"^\s*\[(rule|llm)\]\s*", re.IGNORECASE)


def split_tag(checker: str) -> tuple[str | None, str]:
    """``"[rule] Length_Constraints"`` -> ``("rule", "Length_Constraints")``; no tag -> ``(None, checker)``.

    Example:
        >>> split_tag("[LLM] Style"), split_tag("Style")
        (('llm', 'Style'), (None, 'Style'))
    """
    m = _TAG.match(checker)
    if not m:
        return None, checker.strip()
    return m.group(1).lower(), checker[m.end() :].strip()


# The prelude VerIF's if_prompts.py puts before every function so the trainer's exec finds its judge shim.
# Exactly this and nothing broader is removed: verif-nb's sandbox provides the shim itself.
_VERIF_PATH_PRELUDE = re.compile(r"\Aimport sys\nsys\.path\.append\([^\n]*\)\n")


def strip_verif_prelude(code: str) -> str:
    """Removes the ``import sys`` / ``sys.path.append(...)`` lines VerIF's ``if_prompts.py`` prepends.

    Example:
        >>> strip_verif_prelude("import sys\\nsys.path.append('/x')\\ndef check_following(i, r):\\n    return 1")
        'def check_following(i, r):\\n    return 1'
        >>> strip_verif_prelude("import sys\\nprint(sys.argv)\\n")  # anything else stays, and is screened
        'import sys\\nprint(sys.argv)\\n'
    """
    return _VERIF_PATH_PRELUDE.sub("", code, count=1)


# ---- field checks -------------------------------------------------------------------------------------------


def require_id(row: dict[str, Any], name: str, raw: RawRow) -> str:
    """``row[name]`` as a record id (string or integer, read as a string), or a DataError naming the field."""
    if name not in row or row[name] is None:
        raise DataError(raw.path, raw.line, name, "missing; every record needs a unique id")
    value = row[name]
    # Integer ids are common (IFEval's key); Record.id is a string, so convert. bool is an int subclass: refuse it.
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise DataError(raw.path, raw.line, name, f"expected a non-empty string (or integer), got {value!r}")
    return str(value)


def require_str(
    row: dict[str, Any], name: str, raw: RawRow, *, label: str | None = None, allow_blank: bool = False
) -> str:
    """``row[name]`` as a non-empty string (any string with ``allow_blank``), or a DataError naming ``label``
    (default: ``name``)."""
    label = label or name
    if name not in row or row[name] is None:
        raise DataError(raw.path, raw.line, label, "missing")
    value = row[name]
    if not isinstance(value, str):
        raise DataError(raw.path, raw.line, label, f"expected a string, got {type(value).__name__}")
    if not value.strip() and not allow_blank:
        raise DataError(raw.path, raw.line, label, "empty")
    return value


def require_str_list(row: dict[str, Any], name: str, raw: RawRow, *, label: str | None = None) -> list[str]:
    """``row[name]`` as a list of strings, or a DataError naming the field (``name[i]`` for a bad item)."""
    label = label or name
    if name not in row or row[name] is None:
        raise DataError(raw.path, raw.line, label, "missing")
    value = row[name]
    if not isinstance(value, list):
        raise DataError(raw.path, raw.line, label, f"expected a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DataError(raw.path, raw.line, f"{label}[{i}]", f"expected a string, got {type(item).__name__}")
    return value


# ---- dataset code -------------------------------------------------------------------------------------------


def _defines_check_following(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check_following":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "check_following" for t in node.targets
        ):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name) == "check_following" for a in node.names
        ):
            return True
    return False


def _compile_problem(code: str) -> str | None:
    # The sandbox's screen parses but does not compile; compiling (no execution) also catches what the
    # parser lets through ('return' outside a function).
    try:
        tree = ast.parse(code)
        compile(tree, "<check_following>", "exec")
    except SyntaxError as err:
        return f"code does not compile: {err.msg} (line {err.lineno} of the function source)"
    except (ValueError, RecursionError, MemoryError) as err:
        return f"code does not compile: {err}"
    if not _defines_check_following(tree):
        return "code defines no top-level check_following(instruction, response) function"
    return None


# Every VerInstruct [llm] function imports llm_call (the judge shim), and generated [rule] code often carries
# the same import line: accept it here; running it is the sandbox's business.
_ALLOWED_IMPORTS = frozenset(DEFAULT_ALLOWED_IMPORTS) | {"llm_call"}


def rule_code_problem(code: str) -> str | None:
    """Why ``code`` cannot serve as a checker (None when it can); static only, nothing is executed.

    Example:
        >>> rule_code_problem("def check_following(instruction, response):\\n    return True") is None
        True
        >>> rule_code_problem("def f(:") is None
        False
    """
    return screen_code(code, allowed_imports=_ALLOWED_IMPORTS) or _compile_problem(code)


def _string_value(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(str(v.value) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left, names), _string_value(node.right, names)
        return left + right if left is not None and right is not None else None
    return None


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def extract_llm_description(code: str) -> str | None:
    """The constraint text an ``[llm]`` checker asks the judge about: the string argument(s) of its
    ``llm_judge`` / ``llm_score`` / ``llm_extract`` call(s), read with ``ast`` (never executed).

    A name bound once to a string literal is resolved; several calls are joined by newlines in source
    order. When one entry lists several soft constraints in one string, that whole string is returned.
    None when no string argument can be read statically.

    Example:
        >>> extract_llm_description('from llm_call import llm_judge\\n'
        ...     'def check_following(instruction, response):\\n'
        ...     '    return llm_judge(instruction, response, "Use a calm tone.")')
        'Use a calm tone.'
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    assigned: dict[str, list[ast.AST]] = {}
    calls: list[ast.Call] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.Call) and _call_name(node.func) in LLM_CALLS:
            calls.append(node)
    if not calls:
        return None
    # Only names bound exactly once are safe to resolve statically.
    names = {k: s for k, v in assigned.items() if len(v) == 1 and (s := _string_value(v[0], {})) is not None}
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    parts: list[str] = []
    for call in calls:
        for arg in [*call.args, *(kw.value for kw in call.keywords)]:
            text = _string_value(arg, names)
            # The reference passes the literal "instruction" as the instruction; that is not the constraint.
            if (
                text is not None
                and text.strip()
                and text.strip() not in ("instruction", "response")
                and text.strip() not in parts
            ):
                parts.append(text.strip())
    return "\n".join(parts) if parts else None


# ---- constraints and responses ------------------------------------------------------------------------------


def build_constraints(
    checkers: list[str],
    functions: list[str],
    raw: RawRow,
    *,
    untagged: str,
    prefix: str = "",
    builtin: list[dict[str, Any] | None] | None = None,
    builtin_check: Callable[..., Constraint | None] | None = None,
) -> tuple[list[Constraint], list[int], Counter]:
    """Constraints from aligned checker names and function sources; also the kept positions and counts.

    ``builtin`` (verl rows written by :func:`export_verl`) marks positions that are built-in checkers,
    turned into constraints by ``builtin_check``.
    """
    verif = untagged == "verif"
    if verif and len(checkers) != len(functions):
        counts_zip = abs(len(checkers) - len(functions))  # the original zips: the longer list's tail is ignored
        checkers, functions = checkers[: len(functions)], functions[: len(checkers)]
    else:
        counts_zip = 0
    if len(checkers) != len(functions):
        raise DataError(
            raw.path,
            raw.line,
            f"{prefix}functions",
            f"has {len(functions)} entries but {prefix}checkers has {len(checkers)}; they must be aligned "
            "(one function per checker)",
        )
    if not checkers and not verif:
        raise DataError(raw.path, raw.line, f"{prefix}checkers", "empty; a record needs at least one constraint")
    counts: Counter = Counter()
    if counts_zip:
        counts["unpaired_entries_ignored_as_verif_does"] += counts_zip
    out: list[Constraint] = []
    kept: list[int] = []
    for i, (name, code) in enumerate(zip(checkers, functions)):
        if not verif:
            code = strip_verif_prelude(code)
        tag, bare = split_tag(name)
        if untagged == "verif":
            tag = "llm" if "[llm]" in name else "rule" if "[rule]" in name else None
            bare = name.replace(f"[{tag}]", "").strip() if tag else name
            if tag is None:
                counts["dropped_as_verif_does"] += 1
                continue
        elif tag is None:
            counts["untagged"] += 1
            if untagged == "error":
                raise DataError(
                    raw.path,
                    raw.line,
                    f"{prefix}checkers[{i}]",
                    f"checker {name!r} has no [rule] or [llm] tag; choose a policy with "
                    "untagged='rule', 'llm', 'drop' or 'verif' (the VerIF reference silently drops these)",
                )
            if untagged == "drop":
                counts["untagged_dropped"] += 1
                continue
            counts[f"untagged_to_{untagged}"] += 1
            tag = untagged
        spec = builtin[i] if builtin is not None and i < len(builtin) else None
        if spec is not None and builtin_check is not None:
            constraint = builtin_check(bare, tag, spec, code, i, counts)
            if constraint is not None:
                out.append(constraint)
                kept.append(i)
            continue
        if tag == "rule" and rule_code_problem(code) is not None:
            # One bad function is one unverifiable constraint, not a lost row: the sandbox refuses it again at
            # check time and that constraint gets passed=None with the reason.
            counts["rule_code_rejected"] += 1
        description = None
        if tag == "llm":
            description = extract_llm_description(code)
            if description is None:
                counts["llm_no_description"] += 1
                description = bare
        out.append(Constraint(name=name, kind=tag, code=code, description=description))
        kept.append(i)
    return out, kept, counts


def parse_responses(value: Any, n_checkers: int, kept: list[int], raw: RawRow) -> list[LabelledResponse]:
    """The optional ``responses`` field; labels are checked against the checkers and re-aligned to the kept ones."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(raw.path, raw.line, "responses", f"expected a list of objects, got {type(value).__name__}")
    out: list[LabelledResponse] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"responses[{i}]"
        if not isinstance(item, dict):
            raise DataError(raw.path, raw.line, where, f"expected an object, got {type(item).__name__}")
        text = item.get("text")
        if not isinstance(text, str):
            raise DataError(
                raw.path,
                raw.line,
                f"{where}.text",
                "missing" if text is None else f"expected a string, got {type(text).__name__}",
            )
        rid = item.get("id")
        if rid is not None:
            if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
                raise DataError(raw.path, raw.line, f"{where}.id", f"expected a non-empty string, got {rid!r}")
            rid = str(rid)
            if rid in seen:
                raise DataError(raw.path, raw.line, f"{where}.id", f"duplicate response id {rid!r} in this record")
            seen.add(rid)
        labels = item.get("labels")
        if labels is not None:
            if not isinstance(labels, list):
                raise DataError(
                    raw.path,
                    raw.line,
                    f"{where}.labels",
                    f"expected a list of true/false/null, got {type(labels).__name__}",
                )
            if len(labels) != n_checkers:
                raise DataError(
                    raw.path,
                    raw.line,
                    f"{where}.labels",
                    f"has {len(labels)} labels but the record has {n_checkers} checkers; "
                    "labels are aligned with checkers (null = unlabelled)",
                )
            for j, lab in enumerate(labels):
                if lab is not None and not isinstance(lab, bool):
                    raise DataError(
                        raw.path, raw.line, f"{where}.labels[{j}]", f"expected true, false or null, got {lab!r}"
                    )
            labels = [labels[j] for j in kept]
        out.append(LabelledResponse(text=text, labels=labels, id=rid))
    return out


def parse_verinstruct(raw: RawRow, *, untagged: str, **_: Any) -> tuple[Record, Counter]:
    """One VerInstruct row (plus the optional ``responses`` field) as a Record and the counts it adds."""
    row = raw.row
    rid = require_id(row, "id", raw)
    # VerIF scores a row with an empty or blank prompt; verif-nb's default refuses it
    prompt = require_str(row, "prompt", raw, allow_blank=untagged == "verif")
    checkers = require_str_list(row, "checkers", raw)
    functions = require_str_list(row, "functions", raw)
    constraints, kept, counts = build_constraints(checkers, functions, raw, untagged=untagged)
    if not constraints and untagged != "verif":  # VerIF still scores such a row
        raise RowDropped(
            raw.path,
            raw.line,
            "checkers",
            f"all {len(checkers)} checkers were untagged and untagged='drop' removed them",
        )
    responses = parse_responses(row.get("responses"), len(checkers), kept, raw)
    meta: dict[str, Any] = {"format": "verinstruct"}
    # Columns beyond the format (a source, a category ...) are kept for the user, not interpreted.
    meta.update({k: v for k, v in row.items() if k not in _FIELDS and k not in meta})
    if len(kept) != len(checkers):
        kept_set = set(kept)
        meta["dropped_checkers"] = [c for i, c in enumerate(checkers) if i not in kept_set]
    return Record(
        id=rid, prompt=prompt, constraints=constraints, responses=responses, source=f"{raw.path}:{raw.line}", meta=meta
    ), counts
