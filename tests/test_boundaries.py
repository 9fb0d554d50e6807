"""Imports flow one way: prompts and config at the bottom, retrieval in the middle,
bot on top; only bot/ imports telegram; and no modules import each other in a
circle (imports inside functions included: they hide a circle, not remove it)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "config": {"config"},
    "prompts": {"prompts"},
    "retrieval": {"retrieval", "prompts"},
    "bot": {"bot", "retrieval", "prompts", "config"},
}
OURS = set(ALLOWED)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, by its full name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in OURS for p in (ROOT / package).rglob("*.py")}
    return {name: imported_modules(path) & set(files) - {name} for name, path in files.items()}


def test_layers_import_downwards_only() -> None:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in {n.split(".")[0] for n in imported_modules(path)}:
                if name in OURS and name not in allowed:
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
                if name == "telegram" and package != "bot":
                    problems.append(f"{path.relative_to(ROOT)} imports telegram")
    assert not problems, problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert circles(project_graph()) == []


def test_the_circle_check_finds_a_circle() -> None:
    # the shape the bot once had: admin took lang_of from app, app imported admin
    # inside its builder
    graph = {"bot.app": {"bot.admin"}, "bot.admin": {"bot.app"}, "bot.cli": {"bot.app"}}
    assert circles(graph) == [["bot.admin", "bot.app"]]
