"""The package's structure, read from its source: one room per concept, imports that only go down, no cycles,
each public name defined once.

Every ``import`` of a ``verif_nb`` module counts, also those inside functions (a lazy import is still a
dependency). Layers, lowest first; a module may import its own layer's neighbours only where listed below, and
anything in a lower layer.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "verif_nb"

# Each room (a top-level module or sub-package of verif_nb) and its layer: imports go to lower layers only.
LAYERS: dict[str, int] = {
    "errors": 0,
    "settings": 1,
    "files": 1,
    "records": 1,
    "verif_nb": 2,  # the root __init__: __version__, the errors and the record types
    "gguf": 2,
    "checkers": 3,
    "sandbox": 3,
    "judge": 3,
    "data": 4,
    "verifier": 5,
    "rewards": 6,
    "train": 7,
    "evaluation": 8,
    "report": 9,
    "widgets": 10,
    "pipeline": 10,
    "lab": 11,
    "cli": 12,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "verif_nb"


def _imports() -> list[tuple[str, str, list[str], int]]:
    """(importing module, imported module, names imported, line) for every verif_nb import in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("verif_nb"):
                found.append((module, node.module, [a.name for a in node.names], node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("verif_nb"):
                        found.append((module, alias.name, [], node.lineno))
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                found.append((module, "<relative>", [], node.lineno))
    return found


def test_every_room_has_a_layer():
    rooms = {_room(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert rooms == set(LAYERS), f"rooms without a layer: {rooms - set(LAYERS)}; gone: {set(LAYERS) - rooms}"


def test_imports_only_go_down_and_are_absolute():
    wrong = []
    for module, target, _, line in _imports():
        if target == "<relative>":
            wrong.append(f"{module}:{line} relative import")
            continue
        a, b = _room(module), _room(target)
        if a != b and LAYERS[b] >= LAYERS[a]:
            wrong.append(f"{module}:{line} imports {target} ({b}, layer {LAYERS[b]} >= {a}'s {LAYERS[a]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_rooms():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, target, _, _ in _imports():
        if target != "<relative>" and _room(module) != _room(target):
            graph[_room(module)].add(_room(target))

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert not [room for room in list(graph) if room in reaches(room)]


def test_a_module_takes_its_own_package_names_from_their_module_not_from_the_package():
    # ``from verif_nb.report import x`` inside verif_nb/report/ climbs up to the package's __init__; import the
    # module that defines x. Importing a sibling module through the package is fine.
    wrong = []
    for module, target, names, line in _imports():
        package = (PACKAGE.parent / target.replace(".", "/")).is_dir()
        if package and module.startswith(target + ".") and not module.endswith("__init__"):
            for name in names:
                if not (PACKAGE.parent / target.replace(".", "/") / f"{name}.py").exists():
                    wrong.append(f"{module}:{line} takes {name} from {target}")
    assert not wrong, "\n".join(wrong)


def _public_definitions() -> dict[str, list[str]]:
    defined: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only: methods are not names
            named = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if named and not node.name.startswith("_"):
                defined[node.name].append(_module_name(path))
    return defined


def test_each_public_name_is_defined_once():
    twice = {name: where for name, where in _public_definitions().items() if len(where) > 1}
    # Protocols, one per module by design: ``register(subparsers)`` of each command module of verif_nb.cli, and
    # ``main(argv)`` of each process entry point (the CLI; the sandbox worker, run as a script).
    twice.pop("register", None)
    twice.pop("main", None)
    assert not twice, twice


@pytest.mark.parametrize("words", [("export", "verl"), ("eval", "ifeval")])
def test_duplicate_commands_are_documented_aliases(words):
    from verif_nb.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    help_of = {c.dest: c.help for c in sub._choices_actions}
    if words[0] == "export":
        assert "alias of `data export`" in help_of["export"]
    else:
        ev = sub.choices["eval"]
        ev_sub = next(a for a in ev._actions if a.__class__.__name__ == "_SubParsersAction")
        assert "alias of `eval bench ifeval`" in {c.dest: c.help for c in ev_sub._choices_actions}["ifeval"]
