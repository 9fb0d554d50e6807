"""Whether a store is whole: what is checked after a crash or an outage."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from retrieval.store.parts import split_chunk_id

if TYPE_CHECKING:
    from retrieval.model.embedder import Embedder
    from retrieval.store.chunks import Store


def problems(store: Store, embedder: Embedder) -> list[str]:
    """What is wrong with ``store`` (nothing: an empty list): every listed article
    must have all its chunks, none twice; search must return no chunk of a dead
    revision; and `resync` must leave the live articles as they were. The resync
    removes orphans, so no other process may be writing meanwhile."""
    store.catalogue.refresh()
    live = {a.id: a for a in store.catalogue.articles()}
    if not live:
        return []
    found = []
    seen: Counter[tuple[str, int]] = Counter()
    for record in store.chunk_records(list(live)):
        if live[record.article_id].revision == record.revision:
            seen[(record.article_id, int(record.meta.get("index", -1)))] += 1
    for aid, info in live.items():
        have = [i for (a, i), n in seen.items() if a == aid]
        if sorted(have) != list(range(info.chunks)):
            found.append(f"{aid}: chunks {sorted(have)} of {info.chunks}")
    found += [f"{a}#{i} twice" for (a, i), n in seen.items() if n > 1]
    title = next(iter(live.values())).title
    for hit in store.dense(embedder.embed_query(title), 20):
        aid, revision = split_chunk_id(hit.chunk_id)
        if aid not in live or live[aid].revision != revision:
            found.append(f"search returned a dead chunk of {aid}")
    before = {aid: info.chunks for aid, info in live.items()}
    store.resync()
    after = {a.id: a.chunks for a in store.catalogue.articles()}
    if after != before:
        found.append("resync changed the live articles")
    return found
