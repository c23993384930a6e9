"""The one way a config dataclass is built: ``from_dict`` with unknown-key errors, ``Literal`` choices
checked, help text in field metadata (TRL's ``metadata={"help": ...}``).

Every config of the package (:class:`~verif_nb.judge.JudgeConfig`,
:class:`~verif_nb.verifier.VerifierConfig`, the training blocks) derives from :class:`Settings`, so a
misspelt key in a params file fails the same way everywhere, naming the key.

Example:
    >>> from dataclasses import dataclass
    >>> from typing import Literal
    >>> @dataclass
    ... class Demo(Settings):
    ...     section = "demo"
    ...     colour: Literal["red", "blue"] = option("red", "what colour")
    >>> Demo.from_dict({"colour": "blue"}).colour
    'blue'
    >>> Demo.from_dict({"color": "blue"})
    Traceback (most recent call last):
    ...
    verif_nb.errors.ParamsError: unknown demo key(s) ['color']; known: ['colour']
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any, ClassVar, Literal, TypeVar, Union

from verif_nb.errors import ParamsError

S = TypeVar("S", bound="Settings")

_NO_DEFAULT: Any = dataclasses.MISSING
_TYPES: dict[type, dict[str, Any]] = {}


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


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` annotation (also inside ``X | None``), else None.

    Example:
        >>> literal_choices(Literal["a", "b"] | None)
        ('a', 'b')
    """
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = literal_choices(arg)
            if found is not None:
                return found
    return None


def _settings_type(annotation: Any) -> type[Settings] | None:
    """The Settings subclass in ``annotation`` (``X`` or ``X | None``), for nested blocks."""
    candidates = (
        typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    )
    for arg in candidates:
        if isinstance(arg, type) and issubclass(arg, Settings):
            return arg
    return None


class Settings:
    """Mix-in for config dataclasses: :meth:`from_dict`, :meth:`to_dict`, choices checked on creation.

    Subclasses set ``section`` (the word used in error messages) and call ``super().__post_init__()``
    from their own ``__post_init__``, if they have one.

    Example:
        >>> from verif_nb.verifier import VerifierConfig
        >>> VerifierConfig.field_help()["mode"].split(":")[0]
        'rule | llm | llm_all | hybrid'
    """

    section: ClassVar[str] = "config"

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Resolved annotations of the dataclass fields, by name (resolved once per class).

        Example:
            >>> from verif_nb.judge import JudgeConfig
            >>> JudgeConfig.field_types()["cache_dir"]
            str | None
        """
        if cls not in _TYPES:
            hints = typing.get_type_hints(cls)  # each class in the MRO resolves in its own module
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
    def from_dict(cls: type[S], values: dict[str, Any] | None) -> S:
        """Build from a mapping (a params file block); unknown keys and bad choices raise ParamsError.

        Nested Settings fields accept a mapping of their own fields.

        Example:
            >>> from verif_nb.verifier import VerifierConfig
            >>> VerifierConfig.from_dict({"mode": "llm", "judge": {"model": "m"}}).judge.model
            'm'
        """
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ParamsError(f"{cls.section} settings must be a mapping, not {type(values).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ParamsError(f"unknown {cls.section} key(s) {unknown}; known: {sorted(names)}")
        types_ = cls.field_types()
        built = dict(values)
        for name, value in values.items():
            nested = _settings_type(types_[name])
            if nested is not None and isinstance(value, dict):
                built[name] = nested.from_dict(value)
        try:
            return cls(**built)
        except TypeError as err:  # a wrong value type that the dataclass itself refuses
            raise ParamsError(f"{cls.section}: {err}") from err

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
            >>> VerifierConfig().replace(combine="median")
            Traceback (most recent call last):
            ...
            verif_nb.errors.ParamsError: verifier combine='median': choose one of product, mean, weighted, min
        """
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def __post_init__(self) -> None:
        for name, annotation in self.field_types().items():
            allowed = literal_choices(annotation)
            value = getattr(self, name)
            if allowed is not None and value is not None and value not in allowed:
                raise ParamsError(f"{self.section} {name}={value!r}: choose one of {', '.join(map(str, allowed))}")


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
        flag = (flags or {}).get(name, flag_prefix + name.replace("_", "-"))
        default = getattr(settings, name)
        kwargs: dict[str, Any] = {"dest": dest_prefix + name, "default": default}
        choices = literal_choices(annotations[name])
        kind = next((t for t in typing.get_args(annotations[name]) if t is not type(None)), annotations[name])
        if annotations[name] is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=helps[name], **kwargs)
        elif choices is not None:
            group.add_argument(flag, choices=choices, help=f"{helps[name]} (default: {default})", **kwargs)
        else:
            group.add_argument(
                flag, type=kind, metavar=name.upper(), help=f"{helps[name]} (default: {default})", **kwargs
            )


def from_options(
    cls: type[S], args: argparse.Namespace, fields: Iterable[str], dest_prefix: str = "", **more: Any
) -> S:
    """The settings the options of :func:`add_options` describe (plus ``more`` fields).

    Example:
        >>> from verif_nb.verifier import VerifierConfig
        >>> from_options(VerifierConfig, argparse.Namespace(combine="min"), ["combine"], mode="rule").combine
        'min'
    """
    return cls.from_dict({**{name: getattr(args, dest_prefix + name) for name in fields}, **more})
