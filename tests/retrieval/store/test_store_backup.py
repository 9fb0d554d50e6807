"""A store's backup with its vectors: restored whole, without the model, and refused
when it does not fit; a revision switched while the backup reads is read again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.ingest.loaders import Loaded, load_paths, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.store import backup
from retrieval.store.backup import BackupError
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from tests.auxil.helpers import GAZA_REPORTS, SAMPLE_ARTICLES, model_out_of_reach


def everything(store: Store) -> dict[str, Any]:
    """All a store holds: live records (revision included) and every chunk."""
    store.catalogue.refresh()
    got = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    order = np.argsort(got["ids"])
    return {
        "records": {
            a.id: (a.revision, a.to_json(), store.catalogue.get_article(a.id))
            for a in store.catalogue.articles()
        },
        "ids": [got["ids"][i] for i in order],
        "documents": [got["documents"][i] for i in order],  # type: ignore[index]
        "metadatas": [got["metadatas"][i] for i in order],  # type: ignore[index]
        "embeddings": np.asarray(got["embeddings"])[order],
    }


@pytest.fixture
def filled(store: Store, embedder: Embedder) -> Store:
    report = Ingestor(store, embedder).run([*load_paths([GAZA_REPORTS, *SAMPLE_ARTICLES])])
    assert len(report.added) == 8, report.summary()
    return store


def test_a_backup_restores_the_store_exactly_without_the_model(
    filled: Store, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = everything(filled)
    told: list[int] = []
    manifest = backup.dump(filled, tmp_path / "bk", told.append)
    assert told == [8]
    assert (manifest["articles"], manifest["chunks"]) == (8, len(before["ids"]))
    assert manifest["model"]["id"] == embedder.model_id and manifest["model"]["dim"] == 384
    assert sorted(manifest["files"]) == ["articles-00000.jsonl", "vectors-00000.npy"]
    assert np.load(tmp_path / "bk" / "vectors-00000.npy").dtype == np.float32

    restored = Store(embedded_client(tmp_path / "restored"), embedder)
    written: list[Any] = []
    restored.subscribe(lambda records, removed: written.extend(records))
    with monkeypatch.context() as m:
        model_out_of_reach(m)
        with pytest.raises(AssertionError, match="the model was called"):
            embedder.embed_query("is the model out of reach?")
        backup.load(restored, tmp_path / "bk")
    after = everything(restored)

    assert after["records"] == before["records"]  # same articles, same live revisions
    assert after["ids"] == before["ids"] and after["documents"] == before["documents"]
    assert after["metadatas"] == before["metadatas"]
    # the vectors as they were: Chroma's cosine space keeps a vector only to within
    # an ulp or so of what it is given (a vector read back and added again moves too)
    assert np.abs(after["embeddings"] - before["embeddings"]).max() < 1e-7
    # listeners (the lexical index) are told of every chunk, as after any write
    assert sorted(r.chunk_id for r in written) == before["ids"]
    assert all(r.title for r in written)


def test_a_revision_switched_during_the_backup_is_read_again_whole(
    filled: Store, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aid = "gaza-2023-11-06"
    old = filled.catalogue.info(aid)
    assert old is not None
    replacement = make_article(
        ["A first new paragraph about the toll.", "And a second one, replacing the rest."],
        title="Replaced while the backup reads",
        given_id=aid,
    )
    read = filled.chunk_records
    calls = []

    def read_then_replaced(article_ids: list[str]) -> Any:
        calls.append(list(article_ids))
        if len(calls) == 1:  # another writer commits between the record and its chunks
            Ingestor(filled, embedder).run([Loaded("replaced", replacement)])
        return read(article_ids)

    monkeypatch.setattr(filled, "chunk_records", read_then_replaced)
    backup.dump(filled, tmp_path / "bk")
    assert len(calls) == 2 and calls[1] == [aid]  # only the switched article, again

    new = filled.catalogue.info(aid)
    assert new is not None and new.revision != old.revision
    lines = [
        json.loads(line)
        for line in (tmp_path / "bk" / "articles-00000.jsonl").read_text().splitlines()
    ]
    assert len(lines) == 8
    line = next(x for x in lines if x["article"]["id"] == aid)
    assert line["article"]["title"] == replacement.title and line["revision"] == new.revision
    assert [c["id"].split("|")[1] for c in line["chunks"]] == [new.revision] * new.chunks
    for x in lines:  # every article whole: its revision's chunks, in order
        assert [c["meta"]["index"] for c in x["chunks"]] == list(range(len(x["chunks"])))
        assert {c["meta"]["revision"] for c in x["chunks"]} == {x["revision"]}


def test_restoring_refuses_what_does_not_fit(
    filled: Store, embedder: Embedder, tmp_path: Path
) -> None:
    good = tmp_path / "bk"
    backup.dump(filled, good)
    with pytest.raises(BackupError, match="already holds a backup"):
        backup.dump(filled, good)
    with pytest.raises(BackupError, match="the store is not empty"):
        backup.load(filled, good)

    empty = Store(embedded_client(tmp_path / "empty"), embedder)

    def altered(name: str, change: Any) -> Path:
        target = tmp_path / name
        target.mkdir()
        for f in good.iterdir():
            (target / f.name).write_bytes(f.read_bytes())
        change(target)
        return target

    def other_model(d: Path) -> None:
        manifest = json.loads((d / "manifest.json").read_text())
        manifest["model"]["id"] = "intfloat/multilingual-e5-large"
        (d / "manifest.json").write_text(json.dumps(manifest))

    def truncated(d: Path) -> None:
        page = d / "vectors-00000.npy"
        page.write_bytes(page.read_bytes()[:-100])

    with pytest.raises(BackupError, match="rawi export` and `rawi import") as exc:
        backup.load(empty, altered("other-model", other_model))
    assert "multilingual-e5-large" in str(exc.value)
    with pytest.raises(BackupError, match="not a complete backup"):
        backup.load(empty, altered("no-manifest", lambda d: (d / "manifest.json").unlink()))
    with pytest.raises(BackupError, match=r"articles-00000\.jsonl is missing"):
        backup.load(empty, altered("no-page", lambda d: (d / "articles-00000.jsonl").unlink()))
    with pytest.raises(BackupError, match=r"damaged: vectors-00000\.npy"):
        backup.load(empty, altered("truncated", truncated))
    with pytest.raises(BackupError, match="no such folder"):
        backup.load(empty, tmp_path / "nowhere")
    assert empty.catalogue.articles() == [] and empty.count_chunks() == 0  # nothing written


def test_a_backup_leaves_what_a_running_bot_follows_untouched(
    filled: Store, embedder: Embedder, tmp_path: Path
) -> None:
    assert len(filled.catalogue.live) == 8  # a bot's view, followed every few seconds
    other = Store(embedded_client(tmp_path / "chroma"), embedder)  # another process
    late = make_article(["Written by another process."], title="Late", given_id="late")
    Ingestor(other, embedder).run([Loaded("late", late)])

    manifest = backup.dump(filled, tmp_path / "bk")
    assert manifest["articles"] == 9  # the backup reads the store, not the bot's view
    told: list[list[str]] = []
    filled.subscribe(lambda records, removed: told.append([r.article_id for r in records]))
    assert filled.follow() == (1, 0)  # the bot still learns of it, and its index with it
    assert told and set(told[0]) == {"late"}
