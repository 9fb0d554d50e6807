"""What a store's schema holds, what to say of an older one, and how one that
differs only in its chunks' metadata is brought up to date."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from retrieval.store.catalogue import PAGE
from retrieval.store.parts import report_meta
from retrieval.types import ArticleInfo

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

VERSION = 3
# What the current schema changed, for the message that asks an older store to reindex.
CHANGE = "each passage keeps its report's day and outlet"
# The schema a store can be brought to the current one from without re-embedding
# (`rawi reindex` adds the day and outlet to each chunk's metadata).
METADATA_ONLY_FROM = 2


def add_report_meta(
    chunks: Collection,
    live: Mapping[str, ArticleInfo],
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Give every chunk of ``chunks`` its report's day and outlet, from the live
    catalogue records; returns how many were updated."""
    done, offset = 0, 0
    while True:
        page = chunks.get(include=["metadatas"], limit=PAGE, offset=offset)
        ids, metas = page["ids"], [dict(m or {}) for m in page["metadatas"] or []]
        for m in metas:
            info = live.get(str(m.get("article_id")))
            m.update(report_meta(info.published if info else None, info.source if info else None))
        if ids:
            chunks.update(ids=ids, metadatas=metas)  # type: ignore[arg-type]
        done += len(ids)
        if on_page is not None:
            on_page(len(ids))
        if len(ids) < PAGE:
            return done
        offset += PAGE


def mismatch(have: dict[str, Any], want: dict[str, Any]) -> str:
    """What to say of a store written with another model, prompts or schema."""
    if have["schema"] != want["schema"] and {k: have[k] for k in want if k != "schema"} == {
        k: want[k] for k in want if k != "schema"
    }:
        return (
            f"this store was written with store schema {have['schema']}; this version"
            f" of rawi uses schema {want['schema']} ({CHANGE}). Run"
            + (
                " `rawi reindex` to add them (nothing is re-embedded)."
                if have["schema"] == METADATA_ONLY_FROM
                else " `rawi reindex` to re-embed every article."
            )
        )
    if {k: have[k] for k in ("model", "dim")} == {k: want[k] for k in ("model", "dim")}:
        return (
            f"this store was built with the embedding model {have['model']!r} using"
            f" other prompts ({have['prompts']}, configured: {want['prompts']}) or"
            " another store schema. Run `rawi reindex` to re-embed every article."
        )
    return (
        f"this store was built with the embedding model {have['model']!r} "
        f"(dimension {have['dim']}), not {want['model']!r} (dimension {want['dim']}). "
        "Run `rawi reindex` to re-embed every article with the configured model."
    )
