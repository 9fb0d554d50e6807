"""Imports flow one way: prompts and config at the bottom, retrieval in the middle,
bot on top; only bot/ imports telegram."""

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


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_downwards_only() -> None:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in imports_of(path):
                if name in OURS and name not in allowed:
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
                if name == "telegram" and package != "bot":
                    problems.append(f"{path.relative_to(ROOT)} imports telegram")
    assert not problems, problems
