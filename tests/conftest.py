"""Shared fixtures: real parts, small and isolated.

- Every test gets its own data dir (no test writes the user's data).
- The real bundled embedder is prepared once per run in the user cache dir
  (``test_e5bundle`` checks the preparation itself in a temporary cache).
- ``../shared/data`` is needed by some tests: they skip without it, except
  under ``CI=true``, where a missing folder is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.loaders import Loaded, load_paths
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.scope import Outlets
from retrieval.search import Searcher
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.types import Article
from tests.auxil.helpers import (
    GAZA_REPORTS,
    MODEL_CACHE,
    configured_outlets,
    searcher_for,
    shared_path,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("RAWI_") or key in ("TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAWI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAWI_CACHE_DIR", str(MODEL_CACHE.parent))


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    emb = Embedder(cache_dir=MODEL_CACHE)
    _ = emb.dim  # load once, up front
    return emb


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> Iterator[Store]:
    s = Store(embedded_client(tmp_path / "chroma"), embedder)
    yield s
    s.close()


@pytest.fixture(scope="session")
def founding_article() -> Article:
    path = shared_path("seed", "blinken-middle-east-ar.txt")
    (item,) = list(load_paths([path]))
    assert item.article is not None
    return item.article


@pytest.fixture(scope="session")
def distractors() -> list[Loaded]:
    """200 SaudiNewsNet articles from one day, in file order."""
    path = shared_path("saudinewsnet", "2015-07-23.zip")
    items = [item for item in load_paths([path]) if item.article is not None]
    return items[:200]


@pytest.fixture(scope="session")
def news(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    founding_article: Article,
    distractors: list[Loaded],
) -> Searcher:
    """The founding article among 200 SaudiNewsNet distractors, searchable.

    Shared by the tests that read it; tests that write use their own store.
    """
    from retrieval.ingest.pipeline import Ingestor

    path = tmp_path_factory.mktemp("news")
    store = Store(embedded_client(path / "chroma"), embedder)
    searcher = searcher_for(store, embedder, path / "lexical.sqlite")
    report = Ingestor(store, embedder).run([Loaded("seed", founding_article), *distractors])
    assert len(report.added) == 201, report.summary()
    return searcher


@pytest.fixture(scope="session")
def qa(news: Searcher) -> QAService:
    return QAService(news, ExtractiveAnswerer(news.embedder))


@pytest.fixture(scope="session")
def gaza_store(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, distractors: list[Loaded]
) -> Searcher:
    """Three reports of the Gaza death toll (25 Oct 2023: 6,546, The New Arab; 2 Nov:
    9,000, Okaz; 6 Nov: 10,022, The New Arab), an oil report of 2 November (Okaz),
    and 60 SaudiNewsNet articles of July 2015, searchable."""
    store = Store(embedded_client(tmp_path_factory.mktemp("gaza")), embedder)
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([*load_paths([GAZA_REPORTS]), *distractors[:60]])
    return searcher


@pytest.fixture
def gaza(gaza_store: Searcher) -> QAService:
    """The reader's service over ``gaza_store``, outlets named as shipped."""
    outlets = configured_outlets()
    answerer = ExtractiveAnswerer(gaza_store.embedder, outlets=Outlets(outlets))
    return QAService(gaza_store, answerer, outlets=outlets)
