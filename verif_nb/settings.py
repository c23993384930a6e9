"""Typed configuration, validated once at the edge.

Every config of the package (:class:`~verif_nb.judge.JudgeConfig`, :class:`~verif_nb.verifier.VerifierConfig`,
the training blocks, the sandbox, sampling, the pipeline file and each notebook's parameters) is a stdlib
dataclass deriving from :class:`Settings`. Building one, from a params file (:meth:`Settings.from_dict`), from
command-line options (:func:`from_options`) or directly in Python, checks every field against its annotation with
pydantic in strict mode: a string is not a boolean, ``"two"`` is not an integer, and the ranges written into the
annotation (:data:`Count`, :data:`Fraction`, ...) hold. A failure is one :class:`~verif_nb.errors.ParamsError`
line naming the file, the key path and the expected type. The object is then handed on as it is: nested blocks
that are already objects are not checked again, and nothing downstream re-reads the file.

Help text lives in field metadata (TRL's ``metadata={"help": ...}``), so ``dataclasses.fields`` gives the
command-line options (:func:`add_options`) and the notebooks' parameter comments. Blocks that belong to other
libraries (``grpo:`` is ``trl.GRPOConfig``, ``lora:`` is ``peft.LoraConfig``) are checked from those dataclasses'
own annotations (:func:`foreign_block_problems`).

Example:
    >>> from dataclasses import dataclass
    >>> from typing import Literal
    >>> @dataclass
    ... class Demo(Settings):
    ...     section = "demo"
    ...     colour: Literal["red", "blue"] = option("red", "what colour")
    ...     steps: Count = option(1, "how many steps")
    >>> Demo.from_dict({"colour": "blue"}).colour
    'blue'
    >>> Demo.from_dict({"steps": "two"}, where="p.yaml")
    Traceback (most recent call last):
    ...
    verif_nb.errors.ParamsError: p.yaml: demo.steps: expected an integer >= 1, got 'two' (str)
    >>> Demo.from_dict({"color": "blue"})
    Traceback (most recent call last):
    ...
    verif_nb.errors.ParamsError: demo: unknown demo key(s) ['color']; known: ['colour', 'steps']
"""

from __future__ import annotations

import argparse
import collections.abc
import contextvars
import dataclasses
import enum
import pathlib
import reprlib
import types
import typing
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import ConfigDict, Field, InstanceOf, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from verif_nb.errors import ParamsError

S = TypeVar("S", bound="Settings")

# Ranges, written into annotations so that the check, the error message and the help all read the same bound.
Count = Annotated[int, Field(ge=1)]
"""An integer >= 1 (workers, concurrency, token limits)."""
NonNegativeInt = Annotated[int, Field(ge=0)]
"""An integer >= 0 (retries; 0 often means "skip")."""
PositiveFloat = Annotated[float, Field(gt=0)]
"""A number > 0 (timeouts)."""
NonNegativeFloat = Annotated[float, Field(ge=0)]
"""A number >= 0 (delays, temperatures)."""
Fraction = Annotated[float, Field(ge=0, lt=1)]
"""A number in [0, 1) (a share held out)."""
UnitInterval = Annotated[float, Field(ge=0, le=1)]
"""A number in [0, 1] (weights, probabilities)."""

# Upper bounds of the options that start processes, threads or requests: without one, `verify --workers 100000`
# forked until it timed out (load 29 on 2 cores). Constants, not the CPU count, so that a params file valid on one
# machine is valid on every one (a GPU node's preset checked on a laptop).
MAX_WORKERS = 64
"""Most worker processes or threads one option may start (sandbox workers, jobs a worker runs at once, llama.cpp
threads): past a large machine's cores more only add start-up time and memory (~25-90 MB a sandbox worker)."""
MAX_CONCURRENCY = 256
"""Most requests in flight one option may ask for (judge requests per server, sandbox host-call threads)."""
Workers = Annotated[int, Field(ge=1, le=MAX_WORKERS)]
"""An integer in [1, MAX_WORKERS] (processes, threads)."""
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)]
"""An integer in [1, MAX_CONCURRENCY] (requests in flight)."""

_NO_DEFAULT: Any = dataclasses.MISSING
_NONE = type(None)
# YAML gives typed scalars, so nothing is coerced: no "2" for 2, no "no" for False; an int is a valid float.
_STRICT = ConfigDict(strict=True, allow_inf_nan=False, arbitrary_types_allowed=True)
_TYPES: dict[type, dict[str, Any]] = {}
_ADAPTERS: dict[object, TypeAdapter] = {}
# Where the object being built comes from: set by from_dict for the one __post_init__ it triggers.
_PLACE: contextvars.ContextVar[tuple[type, str | None, str] | None] = contextvars.ContextVar("place", default=None)
_REPR = reprlib.Repr()  # bounded: a huge or deep value costs a short message, not a long one
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 48, 48, 4, 4, 2

VALIDATIONS: Counter[str] = Counter()
"""How many objects of each Settings class were validated in this process (tests count them)."""


def option(default: Any = _NO_DEFAULT, help: str = "", *, default_factory: Any = _NO_DEFAULT) -> Any:
    """A dataclass field whose help text lives in its metadata (TRL style).

    Example:
        >>> @dataclasses.dataclass
        ... class Demo:
        ...     steps: int = option(1, "how many steps")
        >>> dataclasses.fields(Demo)[0].metadata["help"]
        'how many steps'
    """
    if default_factory is not _NO_DEFAULT:
        return dataclasses.field(default_factory=default_factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _strip(annotation: Any) -> Any:
    """``annotation`` without its ``Annotated[...]`` wrapper."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (each stripped of Annotated), or the annotation alone."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(_strip(a) for a in typing.get_args(annotation))
    return (annotation,)


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` annotation (also inside ``X | None``), else None.

    Example:
        >>> literal_choices(Literal["a", "b"] | None)
        ('a', 'b')
    """
    for member in _members(annotation):
        if typing.get_origin(member) is Literal:
            return typing.get_args(member)
    return None


def _settings_type(annotation: Any) -> type[Settings] | None:
    """The Settings subclass in ``annotation`` (``X`` or ``X | None``), for nested blocks."""
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, Settings):
            return member
    return None


def _bounds(metadata: Iterable[Any]) -> str:
    """' >= 1', ' in [0, 1)', ... from the range constraints of an Annotated type."""
    found: dict[str, Any] = {}
    for item in metadata:
        for constraint in getattr(item, "metadata", [item]):  # a pydantic Field holds its constraints in .metadata
            for name in ("ge", "gt", "le", "lt", "min_length"):
                if getattr(constraint, name, None) is not None:
                    found[name] = getattr(constraint, name)
    low = ("[", found["ge"]) if "ge" in found else ("(", found["gt"]) if "gt" in found else None
    high = (found["le"], "]") if "le" in found else (found["lt"], ")") if "lt" in found else None
    text = ""
    if low and high:
        text = f" in {low[0]}{low[1]:g}, {high[0]:g}{high[1]}"
    elif low:
        text = f" {'>=' if low[0] == '[' else '>'} {low[1]:g}"
    elif high:
        text = f" {'<=' if high[1] == ']' else '<'} {high[0]:g}"
    if found.get("min_length"):
        text += f" (at least {found['min_length']})"
    return text


_PLURAL = {"a string": "strings", "an integer": "integers", "a number": "numbers", "a mapping": "mappings"}


def describe_type(annotation: Any) -> str:
    """The words for what an annotation accepts, as error messages say it.

    Example:
        >>> describe_type(Count | None), describe_type(Fraction), describe_type(list[str])
        ('an integer >= 1 or null', 'a number in [0, 1)', 'a list of strings')
        >>> describe_type(Literal["rule", "llm"])
        "one of 'rule', 'llm'"
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return describe_type(args[0]) + _bounds(annotation.__metadata__)
    if origin in (Union, types.UnionType):
        parts = list(dict.fromkeys(describe_type(a) for a in args if a is not _NONE))
        return " or ".join(parts) + (" or null" if _NONE in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    simple = {_NONE: "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    simple[pathlib.Path] = "a path"
    if annotation in simple:
        return simple[annotation]
    if annotation in (Any, object):
        return "any value"
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence) or annotation in (list, tuple):
        if not args:
            return "a list"
        item = describe_type(args[0])
        return f"a list of {_PLURAL[item]}" if item in _PLURAL else f"a list (each {item})"
    if origin is dict or annotation is dict:
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        return f"a mapping of {annotation.section} keys"
    if isinstance(annotation, type):
        return f"a mapping of {annotation.__name__} fields"
    return str(annotation)


def show(value: Any) -> str:
    """A value as an error message quotes it: short repr and type.

    Example:
        >>> show("lots"), show(None), show("x" * 100)[-12:]
        ("'lots' (str)", 'null', "xxxxx' (str)")
    """
    if value is None:
        return "null"
    return f"{_REPR.repr(value)} ({type(value).__name__})"


def _hint(annotation: Any, value: Any) -> str:
    """A pointer for the two YAML surprises: ``1e-6`` is text, ``"no"`` is not a boolean."""
    if not isinstance(value, str):
        return ""
    kinds = {m for member in _members(annotation) for m in (member, _strip(member))}
    if kinds & {float, int}:
        try:
            float(value)
        except ValueError:
            return ""
        return "; YAML reads a number without a dot before its exponent as text: write 1.0e-6, not 1e-6"
    if bool in kinds and value.lower() in {"yes", "no", "true", "false", "on", "off", "y", "n"}:
        return "; write true or false, unquoted"
    return ""


def mismatch(annotation: Any, value: Any) -> str:
    """The text of a wrong value: ``expected <what the annotation accepts>, got <value> (<type>)``.

    Example:
        >>> mismatch(bool, "no")
        "expected true or false, got 'no' (str); write true or false, unquoted"
    """
    return f"expected {describe_type(annotation)}, got {show(value)}{_hint(annotation, value)}"


def _for_pydantic(annotation: Any) -> Any:
    """An annotation pydantic checks in strict mode the way a params file means it: an enum accepts its values
    (strings in YAML), another library's class accepts a mapping of its fields (its own constructor checks them)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(_for_pydantic(args[0]), *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(_for_pydantic(a) for a in args)]  # noqa: UP007 - built from a tuple
    if origin is Literal or annotation in (Any, _NONE, bool, int, float, str, list, dict, tuple, pathlib.Path):
        return annotation
    if origin in (list, set, frozenset, collections.abc.Sequence):
        return list[_for_pydantic(args[0])] if args else list
    if origin is dict:
        return dict[_for_pydantic(args[0]), _for_pydantic(args[1])] if args else dict
    if origin is tuple:
        return tuple[tuple(a if a is Ellipsis else _for_pydantic(a) for a in args)] if args else tuple
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Union[Literal[tuple(m.value for m in annotation)], InstanceOf[annotation]]  # noqa: UP007
    if isinstance(annotation, type) and annotation is not object:
        return Union[dict[str, Any], InstanceOf[annotation]]  # noqa: UP007
    return Any


def _adapter(owner: object, annotations: dict[str, Any]) -> TypeAdapter:
    """One pydantic validator for a mapping of fields (cached per owner): every key optional, each checked strictly."""
    if owner not in _ADAPTERS:
        fields = {name: _for_pydantic(annotation) for name, annotation in annotations.items()}
        name = getattr(owner[0] if isinstance(owner, tuple) else owner, "__name__", "Block")
        mapping = TypedDict(f"{name}Fields", fields, total=False)  # type: ignore[misc]
        mapping.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]
        _ADAPTERS[owner] = TypeAdapter(mapping)
    return _ADAPTERS[owner]


def _check_mapping(
    owner: object, annotations: dict[str, Any], values: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``values`` checked against ``annotations``: (the checked values, []) or ({}, [(key, problem), ...])."""
    try:
        return _adapter(owner, annotations).validate_python(values), []
    except ValidationError as err:
        bad = dict.fromkeys(e["loc"][0] for e in err.errors(include_url=False) if e["loc"])
        return {}, [(str(name), mismatch(annotations[name], values[name])) for name in bad if name in values]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def foreign_annotations(target: type) -> dict[str, Any]:
    """The init fields of another library's dataclass and their resolved annotations (cached).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Other:
        ...     lr: float = 0.1
        >>> foreign_annotations(Other)
        {'lr': <class 'float'>}
    """
    if target not in _TYPES:
        hints = typing.get_type_hints(target, include_extras=True)
        _TYPES[target] = {f.name: hints[f.name] for f in dataclasses.fields(target) if f.init}
    return _TYPES[target]


def foreign_block_problems(
    values: dict[str, Any], target: type, ranges: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Type problems of a block that maps onto another library's dataclass (``grpo:`` -> ``trl.GRPOConfig``), each
    ``(key, text)``; unknown keys are the caller's to report. The values themselves are kept as written.

    ``ranges`` replaces the annotations of some fields with narrower ones (the same kinds, plus a bound), for fields
    the library annotates as a bare ``int`` or ``float`` but refuses, or misuses, outside a range.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Other:
        ...     max_steps: int = -1
        >>> foreign_block_problems({"max_steps": "ten"}, Other)
        [('max_steps', "expected an integer, got 'ten' (str)")]
        >>> foreign_block_problems({"max_steps": 0}, Other, {"max_steps": Literal[-1] | Count})
        [('max_steps', 'expected one of -1 or an integer >= 1, got 0 (int)')]
    """
    ranges = {k: v for k, v in (ranges or {}).items() if k in foreign_annotations(target)}
    annotations = {**foreign_annotations(target), **ranges}
    known = {k: v for k, v in values.items() if k in annotations}
    return _check_mapping((target, *sorted(ranges)), annotations, known)[1]


class Settings:
    """Mix-in for config dataclasses: typed checks on creation, :meth:`from_dict`, :meth:`to_dict`, help text.

    Subclasses set ``section`` (the word used in messages; also the key path of a block built on its own, unless
    ``root`` says otherwise) and may override :meth:`_check` for checks across fields.

    Example:
        >>> from verif_nb.verifier import VerifierConfig
        >>> VerifierConfig.field_help()["mode"].split(":")[0]
        'rule | llm | llm_all | hybrid'
    """

    section: ClassVar[str] = "config"
    root: ClassVar[str | None] = None  # the key path of a block built on its own (None: the section)

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Resolved annotations of the dataclass fields, by name (resolved once per class; ranges kept).

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig.field_types()["cache_dir"]
            str | None
        """
        if cls not in _TYPES:
            hints = typing.get_type_hints(cls, include_extras=True)  # each class in the MRO in its own module
            _TYPES[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return _TYPES[cls]

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Help text of each field, from its metadata.

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig.field_help()["concurrency"]
            'most requests in flight at once, per server'
        """
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def _root(cls) -> str:
        return cls.section if cls.root is None else cls.root

    @classmethod
    def from_dict(cls: type[S], values: Any, *, where: str | None = None, path: str | None = None) -> S:
        """Build from a mapping (a params file block): unknown keys, wrong types and ranges raise ParamsError.

        ``where`` names the file the block came from, ``path`` its key path there (default: the section). Nested
        Settings fields accept a mapping of their own fields.

        Example:
            >>> from verif_nb.verifier import VerifierConfig
            >>> VerifierConfig.from_dict({"mode": "llm", "judge": {"model": "m"}}).judge.model
            'm'
            >>> VerifierConfig.from_dict({"judge": {"max_tokens": "lots"}}, where="x.yaml")
            Traceback (most recent call last):
            ...
            verif_nb.errors.ParamsError: x.yaml: verifier.judge.max_tokens: expected an integer >= 1, got 'lots' (str)
        """
        path = cls._root() if path is None else path
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ParamsError(f"expected a mapping of {cls.section} keys, got {show(values)}", where=where, key=path)
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted((k for k in values if k not in names), key=str)
        if unknown:
            raise ParamsError(
                f"unknown {cls.section} key(s) {unknown}; known: {sorted(names)}", where=where, key=path or None
            )
        token = _PLACE.set((cls, where, path))
        try:
            return cls(**values)
        except TypeError as err:  # a required field missing: the dataclass itself refuses
            raise ParamsError(str(err), where=where, key=path or None) from None
        finally:
            _PLACE.reset(token)

    @classmethod
    def from_namespace(cls: type[S], namespace: dict[str, Any], where: str | None = None) -> S:
        """Build from the variables of a namespace that are fields (a notebook's ``globals()``), others ignored.

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig.from_namespace({"model": "m", "unrelated": 1}).model
            'm'
        """
        return cls.from_dict(
            {f.name: namespace[f.name] for f in dataclasses.fields(cls) if f.name in namespace}, where=where
        )  # type: ignore[arg-type]

    @classmethod
    def value_problems(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Type and range problems of some field values, each ``(field, text)``, without building an object
        (keys that are not fields are ignored; checks across fields need the whole object).

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig.value_problems({"concurrency": 0, "model": "m"})
            [('concurrency', 'expected an integer in [1, 256], got 0 (int)')]
        """
        types_ = cls.field_types()
        plain = {k: v for k, v in values.items() if k in types_ and _settings_type(types_[k]) is None}
        return _check_mapping(cls, {k: t for k, t in types_.items() if _settings_type(t) is None}, plain)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (nested settings as dicts), what a run's params file records.

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig(model="m").to_dict()["model"]
            'm'
        """
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def replace(self: S, **changes: Any) -> S:
        """A copy with some fields changed, checked again.

        Example:
            >>> from verif_nb.verifier import VerifierConfig
            >>> VerifierConfig().replace(combine="median")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            verif_nb.errors.ParamsError: verifier.combine: expected one of 'product', 'mean', ..., got 'median' (str)
        """
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def _check(self) -> list[tuple[str, str]]:
        """Checks across fields (and normalisation) once this block's own fields have their types: ``(key,
        problem)`` pairs, the key relative to this block. A nested block that failed is still its mapping here."""
        return []

    def __post_init__(self) -> None:
        cls = type(self)
        place = _PLACE.get()
        if place is not None and place[0] is cls:
            _, where, path = place
            _PLACE.set(None)  # nested blocks built below get their own place
        else:
            where, path = None, cls._root()
        types_ = cls.field_types()
        problems: list[tuple[str | None, str]] = []
        plain: dict[str, Any] = {}
        for name, annotation in types_.items():
            value = getattr(self, name)
            nested = _settings_type(annotation)
            if nested is None:
                plain[name] = value
            elif isinstance(value, dict):
                try:
                    object.__setattr__(self, name, nested.from_dict(value, where=where, path=_join(path, name)))
                except ParamsError as err:
                    problems.extend(err.problems)
            elif not (isinstance(value, nested) or (value is None and _NONE in _members(annotation))):
                problems.append((_join(path, name), mismatch(annotation, value)))
        checked, bad = _check_mapping(cls, {k: t for k, t in types_.items() if k in plain}, plain)
        problems += [(_join(path, key), text) for key, text in bad]
        if not bad:  # this block's own fields have their types (a nested block may still have failed)
            for name, value in checked.items():
                object.__setattr__(self, name, value)  # an int given for a float field becomes a float
            problems += [(_join(path, key), text) for key, text in self._check()]
        if problems:
            raise ParamsError.of(problems, where)
        VALIDATIONS[cls.__name__] += 1


def _scalar(annotation: Any) -> Any:
    """The one type a command-line option parses its text to (Annotated and None stripped)."""
    members = [m for m in _members(annotation) if m is not _NONE]
    return members[0] if len(members) == 1 else str


def _parse_as(annotation: Any) -> Any:
    """An argparse ``type=`` that reads an option's text as the field's type, its error in the schema's words."""
    kind = _scalar(annotation)

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {describe_type(annotation)}, got {text!r}") from None

    return parse


def _flag(name: str, flag_prefix: str, flags: dict[str, str] | None) -> str:
    return (flags or {}).get(name, flag_prefix + name.replace("_", "-"))


def add_options(
    group: argparse.ArgumentParser | argparse._ArgumentGroup,
    settings: Settings,
    fields: Iterable[str],
    *,
    flag_prefix: str = "--",
    dest_prefix: str = "",
    flags: dict[str, str] | None = None,
) -> None:
    """One command-line option per field: name, type, choices, help and default all read from the field.

    ``settings`` is the instance whose values are the defaults; ``flags`` renames options whose stable
    spelling differs from ``<flag_prefix><field-with-dashes>``; ``dest_prefix`` namespaces the results.
    Options parse text to the field's type; ranges are checked when :func:`from_options` builds the object.

    Example:
        >>> from verif_nb.verifier import VerifierConfig
        >>> parser = argparse.ArgumentParser()
        >>> add_options(parser, VerifierConfig(), ["combine", "strip_think"])
        >>> vars(parser.parse_args(["--combine", "mean", "--no-strip-think"]))
        {'combine': 'mean', 'strip_think': False}
    """
    cls = type(settings)
    helps, annotations = cls.field_help(), cls.field_types()
    for name in fields:
        flag = _flag(name, flag_prefix, flags)
        default = getattr(settings, name)
        kwargs: dict[str, Any] = {"dest": dest_prefix + name, "default": default}
        choices = literal_choices(annotations[name])
        kind = _scalar(annotations[name])
        if _strip(annotations[name]) is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=helps[name], **kwargs)
        elif choices is not None:
            group.add_argument(flag, choices=choices, help=f"{helps[name]} (default: {default})", **kwargs)
        else:
            group.add_argument(
                flag,
                type=_parse_as(annotations[name]) if kind in (int, float) else kind,
                metavar=name.upper(),
                help=f"{helps[name]} (default: {default})",
                **kwargs,
            )


def from_options(
    cls: type[S],
    args: argparse.Namespace,
    fields: Iterable[str],
    dest_prefix: str = "",
    *,
    flag_prefix: str = "--",
    flags: dict[str, str] | None = None,
    **more: Any,
) -> S:
    """The settings the options of :func:`add_options` describe (plus ``more`` fields); a bad value is a
    ParamsError naming its option.

    Example:
        >>> from verif_nb.verifier import VerifierConfig
        >>> from_options(VerifierConfig, argparse.Namespace(combine="min"), ["combine"], mode="rule").combine
        'min'
        >>> from_options(VerifierConfig, argparse.Namespace(sandbox_workers=0), ["sandbox_workers"],
        ...              flags={"sandbox_workers": "--workers"})
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: --workers: expected an integer in [1, 64], got 0 (int)
    """
    fields = list(fields)
    try:
        return cls.from_dict({**{name: getattr(args, dest_prefix + name) for name in fields}, **more}, path="")
    except ParamsError as err:
        named = [(_flag(k, flag_prefix, flags) if k in fields or k in (flags or {}) else k, t) for k, t in err.problems]
        raise ParamsError.of(named) from None
