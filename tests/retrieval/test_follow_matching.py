"""Matching new articles against followed topics (retrieval.follows), on a real
store and the bundled model."""

from __future__ import annotations

from retrieval.follows import Arrivals, Matcher, Topic, Topics
from retrieval.ingest.loaders import Loaded, load_paths, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.store.chunks import Store
from retrieval.store.parts import split_chunk_id
from tests.auxil.faults import churning
from tests.auxil.helpers import GAZA_REPORTS, searcher_for

TOPICS = [
    "the death toll in Gaza",
    "عدد القتلى في غزة",
    "أسعار النفط",
    "oil prices",
    "Brent crude",
    "the Hajj season",
    "football transfers",
    "heat wave in Riyadh",
    "وزارة الصحة في غزة",
    "camel racing",
    "الإمدادات النفطية",
    "Israeli air strikes",
]
UNRELATED = {TOPICS.index(t) for t in ("the Hajj season", "football transfers", "camel racing")}


def test_the_screen_keeps_every_topic_the_search_confirms(
    store: Store, embedder: Embedder, distractors: list[Loaded]
) -> None:
    """The matrix product and the bound drop only topics the article cannot answer:
    every topic that the search the answers use confirms was a candidate, and no
    unrelated topic matches."""
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([*load_paths([GAZA_REPORTS]), *distractors[:10]])
    matcher = Matcher(searcher)
    topics = Topics([Topic(i, t, matcher.embed(t)) for i, t in enumerate(TOPICS)])
    confirmed_any = 0
    for info in [store.catalogue.info(aid) for aid in ("gaza-2023-11-02", "oil-2023-11-02")]:
        assert info is not None
        records = [
            r
            for r in store.chunk_records([info.id])
            if split_chunk_id(r.chunk_id)[1] == info.revision
        ]
        candidates = set(matcher.candidates(topics, info, records))
        confirmed = {i for i, t in enumerate(topics.items) if matcher.confirm(t, info)}
        assert confirmed <= candidates, [TOPICS[i] for i in confirmed - candidates]
        assert len(candidates) < len(TOPICS)  # the screen drops some
        matched = {m.topic for m in matcher.check(topics, [info])}
        assert matched == confirmed
        assert not matched & UNRELATED
        confirmed_any += len(confirmed)
        for m in matcher.check(topics, [info]):
            assert m.hit.article_id == info.id
            a, b = m.quote
            assert m.hit.text[a:b].strip()  # a sentence of the passage
    assert confirmed_any >= 3  # the toll and the oil report answer their topics


def test_arrivals_are_the_articles_committed_since_the_last_look(
    store: Store, embedder: Embedder
) -> None:
    ingest = Ingestor(store, embedder)
    first = make_article(["Rain fell on Abha on Monday."], title="Rain in Abha", url="https://e/1")
    ingest.run([Loaded("t", first)])
    arrivals = Arrivals(store)
    assert arrivals.new() == []  # what was there before is not new
    second = make_article(
        ["Rain fell on Taif on Tuesday."], title="Rain in Taif", url="https://e/2"
    )
    ingest.run([Loaded("t", second)])
    assert [a.id for a in arrivals.new()] == [second.id]
    assert arrivals.new() == []  # each once
    corrected = make_article(
        ["Rain fell on Taif on Wednesday."], title="Rain in Taif", url="https://e/2"
    )
    ingest.run([Loaded("t", corrected)])
    assert [a.id for a in arrivals.new()] == [second.id]  # a new revision is new again
    # a restart, from the kept cursor: what came within the overlap (writers' clocks
    # may lag) is looked at again, once, and nothing older
    resumed = Arrivals(store, cursor=arrivals.cursor)
    assert {a.id for a in resumed.new()} <= {first.id, second.id}
    assert resumed.new() == []


def test_arrivals_are_read_while_other_threads_commit(store: Store, embedder: Embedder) -> None:
    """The follows look in a worker thread while others commit (an admin's ingest, a
    feed's poll, catching up with another process), each adding to and taking from
    the catalogue's live articles: a look never fails for it."""
    Ingestor(store, embedder).run([Loaded("t", make_article(["Rain fell on Abha."], title="Rain"))])
    arrivals = Arrivals(store)

    def look() -> None:
        assert arrivals.new() == []

    churning(store.catalogue.live, look)
