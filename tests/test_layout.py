"""The layout holds (issue 18): no import circle among the code's modules, and the domain free
of Slack's libraries. Read from the source with `ast`, so an import under TYPE_CHECKING or
inside a function counts as much as one at the top: each is a dependency a reader follows."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("bot", "handlers", "store")
# Where a request is understood, where policy is decided, where work is tracked, and the
# story of a request: none of it may build or read Slack's payloads through Slack's libraries.
DOMAIN = ("bot.understand", "bot.policy", "bot.track", "bot.service")
SLACK_LIBRARIES = ("slack_bolt", "slack_sdk")


def _modules() -> dict[str, Path]:
    """Every module of the code by its dotted name (a package by its __init__.py)."""
    found = {}
    for top in CODE:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """The dotted names a module imports, anywhere in it, as absolute names (`from x import y`
    gives x.y when y is a module, else x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                whole = f"{base}.{alias.name}"
                yield whole if whole in MODULES else base


@functools.cache
def _imports_of(name: str) -> tuple[str, ...]:
    """`_imported` of one of the code's modules, each file parsed once per run."""
    return tuple(_imported(name, MODULES[name]))


def _edges(name: str) -> set[str]:
    """The code's modules that importing `name` runs first: each one it imports, and the
    packages above those (Python runs a package's __init__ before its modules) that are not
    its own."""
    edges = set()
    for target in _imports_of(name):
        parts = target.split(".")
        for depth in range(1, len(parts) + 1):
            step = ".".join(parts[:depth])
            own = name == step or name.startswith(step + ".")
            if step in MODULES and not own:
                edges.add(step)
    return edges


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected set of more than one module (or one importing itself), by
    Tarjan's algorithm: every circle lies in one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_module_list_is_the_code() -> None:
    # The check below reads what it should: the modules it names are those of the tree.
    assert {"bot.service", "bot.understand.grammar", "bot.run.runtime", "handlers.actions"} <= set(
        MODULES
    )
    assert "bot.say" in MODULES and "store" in MODULES


def test_no_import_circle() -> None:
    graph = {name: _edges(name) for name in MODULES}
    assert _circles(graph) == []


def test_a_circle_is_found() -> None:
    # The finder itself, on a made-up graph: a → b → c → a is one circle; d alone is none.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _circles(graph) == [["a", "b", "c"], ["e"]]


def test_health_imports_the_runtime_and_the_runtime_not_health() -> None:
    assert "bot.run.runtime" in _edges("bot.run.health")
    assert "bot.run.health" not in _edges("bot.run.runtime")


def _reached(start: str) -> set[str]:
    """Every dotted name imported by `start` or by any of the code's modules it reaches."""
    names: set[str] = set()
    seen, todo = {start}, [start]
    while todo:
        name = todo.pop()
        names.update(_imports_of(name))
        for step in _edges(name) - seen:
            seen.add(step)
            todo.append(step)
    return names


def test_the_domain_does_not_import_slack() -> None:
    domain = [
        name for name in MODULES if any(name == d or name.startswith(d + ".") for d in DOMAIN)
    ]
    assert len(domain) > 20  # the packages are there, and read
    slack_reached = {
        name: sorted(
            target
            for target in _reached(name)
            if target.split(".")[0] in SLACK_LIBRARIES
            or target == "bot.slack"
            or target.startswith(("bot.slack.", "bot.console", "handlers"))
        )
        for name in domain
    }
    assert {name: found for name, found in slack_reached.items() if found} == {}
