"""A store's backup with its vectors, restored without embedding anything.

A backup is a folder of pages, a page per :data:`PAGE_ARTICLES` articles:

- ``articles-NNNNN.jsonl``: a line per article: the article as stored (as
  ``rawi export`` writes it), its live revision, and its chunks (id, text,
  metadata) in order;
- ``vectors-NNNNN.npy``: those chunks' embeddings, float32, a row per chunk in the
  same order;

and ``manifest.json``, written last (under another name, then renamed): the format,
the embedding model (id, dimension, prompts), the store schema, the counts, when
it was made, and the size and SHA-256 of every other file in the folder (so
whatever a caller put there before, such as the chat state, is vouched for too).
A folder without it is not a complete backup.

Each article is read whole: its catalogue record first, then the chunks of the
revision that record names; if a concurrent writer switched the article to
another revision meanwhile (its chunks no longer add up), the record is read
again. Restoring writes the chunks as they were (same ids, revisions, vectors)
and commits each article as the store commits any write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.store import schema
from retrieval.store.catalogue import article_from_record
from retrieval.store.chunks import Store
from retrieval.store.clients import StoreError
from retrieval.types import Article, ChunkRecord

FORMAT = "rawi-backup"
VERSION = 1
MANIFEST = "manifest.json"
PAGE_ARTICLES = 200
# Reads of an article that keeps changing under the backup before giving up.
ATTEMPTS = 5

Progress = Callable[[int], None]


class BackupError(StoreError):
    """A backup that cannot be made or restored, and why."""


# -- making a backup --------------------------------------------------------------
def dump(store: Store, directory: Path, on_progress: Progress | None = None) -> dict[str, Any]:
    """Write every live article of ``store`` with its chunks and vectors into
    ``directory`` (made if missing; it must hold no backup yet), the manifest
    last. ``on_progress`` is told how many articles each page took. Returns the
    manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / MANIFEST).exists():
        raise BackupError(f"{directory} already holds a backup")
    store.check_model()
    ids = sorted(store.catalogue.live_ids())
    pages: list[dict[str, Any]] = []
    for start in range(0, len(ids), PAGE_ARTICLES):
        batch = ids[start : start + PAGE_ARTICLES]
        pages.append(_write_page(directory, len(pages), _read_whole(store, batch)))
        if on_progress is not None:
            on_progress(len(batch))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "id": store.model.model_id,
            "dim": store.model.dim,
            "prompts": store.model.prompts,
        },
        "store_schema": schema.VERSION,
        "articles": sum(p["count"] for p in pages),
        "chunks": sum(p["chunks"] for p in pages),
        "pages": pages,
        "files": {
            f.name: {"bytes": f.stat().st_size, "sha256": _sha256(f)}
            for f in sorted(directory.iterdir())
            if f.is_file() and not f.name.startswith(MANIFEST)
        },
    }
    tmp = directory / f"{MANIFEST}.part"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(directory / MANIFEST)
    return manifest


def _read_whole(store: Store, ids: list[str]) -> list[tuple[Article, list[ChunkRecord]]]:
    """These articles, each with all the chunks of the revision its record names
    (an article removed meanwhile is left out)."""
    done: dict[str, tuple[Article, list[ChunkRecord]]] = {}
    pending = ids
    for _ in range(ATTEMPTS):
        records = store.catalogue.records(pending)
        chunks: dict[tuple[str, str], list[ChunkRecord]] = {}
        for r in store.chunk_records(list(records)):
            chunks.setdefault((r.article_id, r.revision), []).append(r)
        pending = []
        for aid, (article, info) in records.items():
            got = sorted(chunks.get((aid, info.revision), []), key=lambda r: int(r.meta["index"]))
            if got and len(got) == info.chunks:
                done[aid] = (article, got)
            else:  # switched to another revision since its record was read
                pending.append(aid)
        if not pending:
            return [done[aid] for aid in ids if aid in done]
    raise BackupError(
        f"article {pending[0]} kept changing while it was read; make the backup again"
    )


def _write_page(
    directory: Path, n: int, articles: list[tuple[Article, list[ChunkRecord]]]
) -> dict[str, Any]:
    names = {"articles": f"articles-{n:05d}.jsonl", "vectors": f"vectors-{n:05d}.npy"}
    rows: list[np.ndarray] = []
    with (directory / names["articles"]).open("w", encoding="utf-8") as fh:
        for article, records in articles:
            line = {
                "article": article.to_record(),
                "revision": records[0].revision,
                "chunks": [{"id": r.chunk_id, "text": r.text, "meta": r.meta} for r in records],
            }
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            rows += [np.asarray(r.vector, dtype=np.float32) for r in records]
    vectors = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
    np.save(directory / names["vectors"], vectors, allow_pickle=False)
    return {**names, "count": len(articles), "chunks": len(rows)}


# -- restoring one --------------------------------------------------------------------
def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a complete backup in ``directory``, once every file it
    lists is there with its size and checksum."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BackupError(f"no backup at {directory}: no such folder")
    if not path.is_file():
        raise BackupError(
            f"{directory} is not a complete backup (it has no {MANIFEST}: the backup"
            " was interrupted, or this is another folder)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{directory} is not a complete backup ({MANIFEST}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{directory} is not a rawi backup")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{directory} is a backup of format {manifest.get('version')}; this version of"
            f" rawi reads format {VERSION}"
        )
    for name, want in manifest["files"].items():
        f = directory / name
        if not f.is_file():
            raise BackupError(f"{directory} is not a complete backup: {name} is missing")
        if f.stat().st_size != want["bytes"] or _sha256(f) != want["sha256"]:
            raise BackupError(f"{directory} is damaged: {name} is not as the backup wrote it")
    return manifest


def check_fits(manifest: dict[str, Any], store: Store) -> None:
    """Refuse a backup whose vectors are not of the store's model and schema, and
    a store that is not empty."""
    model = manifest["model"]
    if model["id"] != store.model.model_id:
        raise BackupError(
            f"this backup holds vectors of the embedding model {model['id']!r}, not the"
            f" configured {store.model.model_id!r}. Restore it with that model configured,"
            " or move the articles to another model with `rawi export` and `rawi import`"
            " (which embeds them anew)."
        )
    if model["dim"] != store.model.dim or model["prompts"] != store.model.prompts:
        raise BackupError(
            f"this backup holds vectors of {model['id']!r} of dimension {model['dim']} with"
            f" prompts {model['prompts']}; the configured model has dimension"
            f" {store.model.dim} and prompts {store.model.prompts}. Move the articles with"
            " `rawi export` and `rawi import` (which embeds them anew)."
        )
    if manifest["store_schema"] != schema.VERSION:
        raise BackupError(
            f"this backup is of store schema {manifest['store_schema']}; this version of"
            f" rawi uses schema {schema.VERSION}. Restore it with the version of rawi that"
            " made it, or move the articles with `rawi export` and `rawi import`."
        )
    store.check_model()
    articles, chunks = len(store.catalogue.live_ids()), store.count_chunks()
    if articles or chunks:
        raise BackupError(
            f"the store is not empty ({articles} articles, {chunks} chunks): a backup is"
            " restored only into an empty store (a new data dir, or a new Chroma server)"
        )


def load(
    store: Store,
    directory: Path,
    on_progress: Progress | None = None,
    *,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fill the empty ``store`` from the backup in ``directory``, vectors and all:
    nothing is embedded. ``on_progress`` is told how many articles each page
    held; ``manifest``, what :func:`read_manifest` returned for ``directory``
    when the caller has read it already. Returns the backup's manifest."""
    manifest = manifest or read_manifest(directory)
    check_fits(manifest, store)
    for page in manifest["pages"]:
        articles = _read_page(directory, page, int(manifest["model"]["dim"]))
        store.write_stored(articles)  # a Chroma call costs far more than a record
        if on_progress is not None:
            on_progress(len(articles))
    return manifest


def _read_page(
    directory: Path, page: dict[str, Any], dim: int
) -> list[tuple[Article, list[ChunkRecord]]]:
    vectors = np.load(directory / page["vectors"], allow_pickle=False)
    if len(vectors) != page["chunks"] or (len(vectors) and vectors.shape[1] != dim):
        raise BackupError(f"{page['vectors']} does not hold the vectors its page names")
    out: list[tuple[Article, list[ChunkRecord]]] = []
    row = 0
    with (directory / page["articles"]).open(encoding="utf-8") as fh:
        for line in fh:
            entry = json.loads(line)
            article = article_from_record(entry["article"])
            records = []
            for chunk in entry["chunks"]:
                if row >= len(vectors):
                    raise BackupError(f"{page['vectors']} holds fewer vectors than its page")
                records.append(
                    ChunkRecord(
                        chunk["id"],
                        article.id,
                        entry["revision"],
                        chunk["text"],
                        chunk["meta"],
                        vectors[row],
                        article.title,
                    )
                )
                row += 1
            out.append((article, records))
    if len(out) != page["count"] or row != len(vectors):
        raise BackupError(f"{page['articles']} does not hold the articles its page names")
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
