"""Helpers the test modules share: paths, running the CLI as a user does, the
shared data, and small real parts built the way the composition root builds them."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from bot.compose import search_params
from config.settings import load_settings
from retrieval.model.embedder import Embedder
from retrieval.search import Searcher, SearchParams
from retrieval.store.chunks import Store
from retrieval.store.lexical import LexicalIndex

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = ROOT.parent / "shared" / "data"
MODEL_CACHE = Path(platformdirs.user_cache_dir("rawi")) / "models"


def run(
    command: list[str], data_dir: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command from the project root with its own data dir, as a user would."""
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RAWI_DATA_DIR": str(data_dir), **(env or {})},
        timeout=900,
        check=False,
    )


def rawi(
    *args: str, data_dir: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "bot.cli", *args], data_dir, stdin, env)


def shared_path(*parts: str) -> Path:
    """A file of ``../shared/data``: the test skips without it, except under
    ``CI=true``, where a missing folder is a failure."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing (the shared data folder sits beside the project)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@functools.cache
def shipped_params() -> SearchParams:
    """The search settings rawi ships (``config/default.toml``)."""
    return search_params(load_settings())


def searcher_for(
    store: Store, embedder: Embedder, index: Path | None = None, params: SearchParams | None = None
) -> Searcher:
    """A searcher over ``store`` with the shipped settings, whose lexical index (in
    memory without a path) follows the store's writes, as the composition root
    attaches it."""
    lexical = LexicalIndex(index)
    lexical.follow(store)
    return Searcher(store, embedder, lexical, params or shipped_params())


GAZA_REPORTS = ROOT / "tests" / "auxil" / "gaza-reports.jsonl"
# The sample corpus `make run` starts a fresh data dir with (four short articles).
SAMPLE_ARTICLES = sorted((ROOT / "config" / "sample").glob("*.md"))


def configured_outlets() -> dict[str, dict[str, object]]:
    """The outlets' names as shipped (``[outlets]`` in ``config/default.toml``)."""
    return {k: v.model_dump() for k, v in load_settings().outlets.items()}


def model_out_of_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way into the embedding model fails from now on: torch's model, the
    ONNX graph for queries, and the embedding calls themselves."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was called")

    for name in ("model", "graph"):
        monkeypatch.setattr(Embedder, name, property(refuse))
    for name in ("embed_passages", "embed_passages_and_parts", "embed_queries", "embed_query"):
        monkeypatch.setattr(Embedder, name, refuse)
