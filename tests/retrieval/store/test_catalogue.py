"""The catalogue's view of what is live, read while other threads commit."""

from __future__ import annotations

from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.store.chunks import Store
from tests.auxil.faults import churning


def test_what_is_live_is_read_whole_while_other_threads_commit(
    store: Store, embedder: Embedder
) -> None:
    """Every question asks the catalogue for the live revisions (to keep dead
    revisions out of its hits) while an admin's ingest or a feed's poll commits in
    another thread: the question never fails for it."""
    Ingestor(store, embedder).run([Loaded("t", make_article(["Rain fell on Abha."], title="Rain"))])
    catalogue = store.catalogue

    def look() -> None:
        assert len(catalogue.revisions()) >= 20_001
        assert catalogue.coverage()["articles"] >= 20_001
        assert len(catalogue.articles()) >= 20_001

    churning(catalogue.live, look)
