"""Ingestion into a real Chroma store with the real bundled model."""

import copy
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval.ingest import pipeline
from retrieval.ingest.loaders import Loaded, load_paths, make_article
from retrieval.ingest.pipeline import Ingestor, WriteBehind, interrupts_deferred, reindex
from retrieval.model.embedder import Embedder
from retrieval.store.chunks import Store
from retrieval.store.clients import ModelMismatch, StoreError, embedded_client
from retrieval.types import Article
from tests.auxil.faults import crash_before_commit


def loaded(*articles: Article) -> list[Loaded]:
    return [Loaded(f"test:{a.id}", a) for a in articles]


def art(aid: str, *paras: str, title: str = "عنوان") -> Article:
    return make_article(list(paras), title=title, given_id=aid)


def test_ingest_reingest_replace_remove(store: Store, embedder: Embedder) -> None:
    ing = Ingestor(store, embedder)
    a = art("a1", "وصل الوزير إلى عمان صباح الخميس.", "ثم توجه إلى القدس.")
    b = art("b1", "The harbour reopened on Tuesday.", title="Harbour")
    r1 = ing.run(loaded(a, b))
    assert (sorted(r1.added), r1.updated, r1.unchanged, r1.failed) == (["a1", "b1"], [], [], [])
    chunks_before = store.count_chunks()
    assert chunks_before == store.catalogue.info("a1").chunks + store.catalogue.info("b1").chunks  # type: ignore[union-attr]

    r2 = ing.run(loaded(a, b))  # the same articles again change nothing
    assert sorted(r2.unchanged) == ["a1", "b1"] and not r2.added and not r2.updated
    assert store.count_chunks() == chunks_before
    rev = store.catalogue.info("a1").revision  # type: ignore[union-attr]

    a2 = art("a1", "وصل الوزير إلى الرياض مساء الجمعة.")
    r3 = ing.run(loaded(a2))
    assert r3.updated == ["a1"]
    assert store.catalogue.info("a1").revision != rev  # type: ignore[union-attr]
    assert store.catalogue.get_article("a1") == a2
    texts = [doc for _, doc, meta in store.iter_chunks() if meta["article_id"] == "a1"]
    assert texts == ["وصل الوزير إلى الرياض مساء الجمعة."]  # no chunk of the old text is left

    assert store.remove("a1")
    assert not store.remove("a1")
    assert store.catalogue.info("a1") is None
    assert all(meta["article_id"] != "a1" for _, _, meta in store.iter_chunks())
    hits = store.dense(embedder.embed_query("الوزير في الرياض"), 5)
    assert [h.article_id for h in hits] == ["b1"]


def test_chunk_spans_point_into_the_article(
    store: Store, embedder: Embedder, founding_article: Article
) -> None:
    Ingestor(store, embedder).run(loaded(founding_article))
    text = store.catalogue.get_article(founding_article.id).text  # type: ignore[union-attr]
    for _, doc, meta in store.iter_chunks():
        assert text[meta["start"] : meta["end"]] == doc
        assert meta["paragraph"] in (1, 2)


def test_a_crash_before_commit_leaves_the_old_revision_whole(
    store: Store, embedder: Embedder
) -> None:
    ing = Ingestor(store, embedder)
    old = art("x", "The old text about the storm in the harbour.", title="Storm")
    ing.run(loaded(old))
    old_rev = store.catalogue.info("x").revision  # type: ignore[union-attr]
    new = art("x", "Completely different text about a football final.", title="Final")
    chunks = ing.chunk(new)
    vectors = embedder.embed_passages([c.text for c in chunks])
    with pytest.raises(StoreError, match="simulated crash"), crash_before_commit(store):
        store.write(new, chunks, vectors)

    # A fresh process sees the old revision, whole, and search returns only it.
    store.catalogue.refresh()
    assert store.catalogue.info("x").revision == old_rev  # type: ignore[union-attr]
    assert store.catalogue.get_article("x") == old
    hits = store.dense(embedder.embed_query("football final"), 10)
    assert hits and all(h.text == old.paragraphs[0] for h in hits)
    assert store.count_chunks() == 2  # the orphan is there, but invisible
    assert store.resync(min_age=3600) == 0  # too recent: its writer may be about to commit
    assert store.resync() == 1
    assert store.count_chunks() == 1


def test_dense_search_reads_past_a_crowd_of_dead_chunks(store: Store, embedder: Embedder) -> None:
    ing = Ingestor(store, embedder)
    reports = (art(f"m{i}", f"Match report {i}: the league game ended 1-1.") for i in range(8))
    ing.run(loaded(*reports))
    new = art("m0", *(f"Football final ends in a penalty shoot-out, round {i}." for i in range(30)))
    chunks = ing.chunk(new)
    with pytest.raises(StoreError, match="simulated crash"), crash_before_commit(store):
        store.write(new, chunks, embedder.embed_passages([c.text for c in chunks]))
    vector = embedder.embed_query("football final penalty shoot-out")
    live = {store.catalogue.info(f"m{i}").revision for i in range(8)}  # type: ignore[union-attr]
    # the uncommitted revision's 30 chunks are the query's nearest neighbours,
    # more than the first request's margin
    nearest = store.chunks.query(query_embeddings=[vector], n_results=30, include=["distances"])
    assert not live & {cid.split("|")[1] for cid in nearest["ids"][0]}
    hits = store.dense(vector, 5)
    assert len(hits) == 5 and all(h.article_id.startswith("m") for h in hits)
    assert all(h.text.startswith("Match report") for h in hits)


def test_failed_items_are_reported_and_do_not_stop_the_others(
    store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    (tmp_path / "ok.txt").write_text("Fine\n\nA body.")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    report = Ingestor(store, embedder).run(load_paths([tmp_path]))
    assert len(report.added) == 1
    reasons = {Path(o).name: r for o, r in report.failed}
    assert reasons.keys() == {"empty.md", "bad.zip"}


def test_model_mismatch_is_refused_then_reindex_fixes_it(
    tmp_path: Path, embedder: Embedder, other_model: Embedder
) -> None:
    client = embedded_client(tmp_path / "db")
    store = Store(client, embedder)
    Ingestor(store, embedder).run(
        loaded(art("m", "The harbour reopened on Tuesday."), art("n", "أمطار غزيرة"))
    )
    del store

    other = Store(client, other_model)
    with pytest.raises(ModelMismatch, match="rawi reindex"):
        other.dense(other_model.embed_query("harbour"), 3)
    assert reindex(other, Ingestor(other, other_model)) == 2
    hits = other.dense(other_model.embed_query("When did the harbour reopen?"), 1)
    assert hits[0].article_id == "m"
    assert other.recorded_model()["dim"] == other_model.dim
    # a projection after pooling: sentences cannot be pooled from tokens, and get
    # their passage's vector
    vectors, parts, _ = other_model.embed_passages_and_parts(
        ["Port\nIt reopened. Ships came."], [[(5, 17), (18, 29)]], [(5, 29)]
    )
    assert vectors.shape == (1, 128) and parts[0].shape == (2, 128)
    assert np.allclose(parts[0], vectors[0])
    # and the original model is now the one refused
    with pytest.raises(ModelMismatch):
        Store(client, embedder).check_model()


def test_same_model_with_other_prompts_is_refused_and_says_so(
    tmp_path: Path, embedder: Embedder
) -> None:
    client = embedded_client(tmp_path / "db")
    Store(client, embedder).check_model()

    class Reprompted:  # the same model and dimension, its prompts changed
        def __init__(self) -> None:
            self.model_id, self.dim = embedder.model_id, embedder.dim
            self.prompts = {**embedder.prompts, "query": "question: "}

    with pytest.raises(ModelMismatch, match=r"other prompts .*question: .*rawi reindex"):
        Store(client, Reprompted()).check_model()


@pytest.fixture(scope="module")
def other_model(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """A genuinely different sentence-transformers model: e5 with a 128-d projection."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    base = embedder.model
    torch.manual_seed(0)
    dense = Dense(
        in_features=384, out_features=128, bias=False, activation_function=torch.nn.Identity()
    )
    folder = tmp_path_factory.mktemp("model") / "e5-128"
    # copies: the session's embedder must stay as it is
    modules = [
        copy.deepcopy(base[0]).float(),
        copy.deepcopy(base[1]),
        dense,
        copy.deepcopy(base[2]),
    ]
    SentenceTransformer(modules=modules, prompts=base.prompts).save(str(folder))
    other = Embedder(model=str(folder), dtype="fp32")
    assert other.dim == 128
    return other


def test_vectors_are_normalised(embedder: Embedder) -> None:
    v = embedder.embed_passages(["a", "ب", "longer text " * 20])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_an_interrupt_during_a_commit_waits_for_its_end() -> None:
    # Python's own Ctrl-C handler (an event loop run by an earlier test may have left another)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        steps = []
        with pytest.raises(KeyboardInterrupt), interrupts_deferred():
            signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of a write
            steps.append("write finished")
        assert steps == ["write finished"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, outer)


def test_groups_are_written_while_the_next_is_embedded_and_in_order(
    store: Store, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "EMBED_GROUP", 1)  # every article its own group
    first = [art(f"g{i}", f"الفقرة الأولى من الخبر رقم {i}.", title=f"خبر {i}") for i in range(5)]
    # g1 twice right behind itself (its first write still in flight), then changed
    again = art("g1", "نص جديد للخبر الأول بعد التصحيح.", title="خبر 1")
    same = art("g3", "الفقرة الأولى من الخبر رقم 3.", title="خبر 3")
    done: list[int] = []
    items = loaded(first[0], first[1], copy.copy(first[1]), again, *first[2:], same)
    rep = Ingestor(store, embedder).run(items, on_item=done.append)
    assert rep.added == [a.id for a in first]  # accounted for in the order written
    assert rep.unchanged == ["g1", "g3"] and rep.updated == ["g1"] and not rep.failed
    assert sum(done) == 8  # every item is reported once
    assert store.catalogue.get_article("g1") == again  # the later version won
    assert rep.chunks == 6 and store.count_chunks() == 5  # g1's first revision is gone
    assert {a.id for a in store.catalogue.articles()} == {a.id for a in first}


def test_write_behind_keeps_one_write_in_flight_and_its_order() -> None:
    log: list[str] = []
    running = threading.Semaphore(1)
    done: list[int] = []
    writer = WriteBehind(done.append)

    def write(name: str) -> None:
        assert running.acquire(blocking=False), "two writes at once"
        try:
            time.sleep(0.05)
            log.append(name)
        finally:
            running.release()

    for i in range(4):
        writer.submit(lambda i=i: write(f"w{i}"), i + 1, {f"id{i}"})
        assert writer.ids == {f"id{i}"}
    writer.close()
    assert log == ["w0", "w1", "w2", "w3"]
    assert done == [1, 2, 3, 4] and writer.ids == set()


def test_an_interrupt_while_a_write_is_in_flight_waits_for_it() -> None:
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        finished: list[str] = []
        done: list[int] = []
        writer = WriteBehind(done.append)
        with pytest.raises(KeyboardInterrupt):
            try:
                writer.submit(lambda: (time.sleep(0.3), finished.append("written")), 3, {"a"})
                raise KeyboardInterrupt  # Ctrl-C while the next group is embedded
            finally:
                writer.close()
        assert finished == ["written"] and done == [3]  # the write ended and was counted
    finally:
        signal.signal(signal.SIGINT, outer)


def test_reindex_writes_each_group_behind_the_next_and_switches_at_the_end(
    store: Store, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "افتتحت البلدية المكتبة العامة الجديدة يوم السبت.",
        "The harbour reopened on Tuesday after the storm.",
        "فاز الفريق بالكأس بعد ركلات الترجيح.",
        "ارتفعت أسعار القمح في الأسواق المحلية.",
    ]
    articles = [art(f"r{i}", t, title=f"خبر {i}") for i, t in enumerate(texts)]
    Ingestor(store, embedder).run(loaded(*articles))
    before = sorted((cid, doc) for cid, doc, _ in store.iter_chunks())
    monkeypatch.setattr(pipeline, "EMBED_GROUP", 1)  # every article its own group

    # A write that fails part-way: the old vectors stay live, nothing is lost.
    begin = store.begin_reindex
    calls: list[int] = []
    threads: set[str] = set()

    class FailsOnSecondWrite:
        def __init__(self, coll: object) -> None:
            self.coll = coll

        def __getattr__(self, name: str) -> object:
            return getattr(self.coll, name)

        def add(self, **kw: object) -> None:
            calls.append(len(kw["ids"]))  # type: ignore[arg-type]
            threads.add(threading.current_thread().name)
            if len(calls) == 2:
                raise RuntimeError("disk full")
            self.coll.add(**kw)  # type: ignore[attr-defined]

    monkeypatch.setattr(store, "begin_reindex", lambda: FailsOnSecondWrite(begin()))
    with pytest.raises(RuntimeError, match="disk full"):
        reindex(store, Ingestor(store, embedder))
    assert len(calls) == 2  # nothing is written after the failed write
    assert {t.split("_")[0] for t in threads} == {"ingest-writer"}  # written behind
    assert sorted((cid, doc) for cid, doc, _ in store.iter_chunks()) == before
    assert store.dense(embedder.embed_query("متى افتتحت المكتبة؟"), 1)[0].article_id == "r0"
    # the failed reindex left a whole collection behind: resync's second half drops it
    names = {c.name for c in store.client.list_collections()}
    assert store.drop_unused_collections(min_age=3600) == 0  # too recent on a shared server
    assert store.drop_unused_collections() == 1
    assert names - {c.name for c in store.client.list_collections()} != set()
    assert store.chunks.name in {c.name for c in store.client.list_collections()}
    assert sorted((cid, doc) for cid, doc, _ in store.iter_chunks()) == before

    monkeypatch.setattr(store, "begin_reindex", begin)
    done: list[int] = []
    assert reindex(store, Ingestor(store, embedder), on_item=done.append) == 4
    assert done == [1, 1, 1, 1]  # each group reported once its write has ended
    assert sorted((cid, doc) for cid, doc, _ in store.iter_chunks()) == before
    for i, q in enumerate(["متى افتتحت المكتبة؟", "When did the harbour reopen?"]):
        assert store.dense(embedder.embed_query(q), 1)[0].article_id == f"r{i}"


def test_a_store_from_before_titles_were_embedded_asks_for_a_reindex(
    tmp_path: Path, embedder: Embedder
) -> None:
    client = embedded_client(tmp_path / "db")
    store = Store(client, embedder)
    Ingestor(store, embedder).run(loaded(art("p", "أعيد افتتاحه يوم الثلاثاء.", title="الميناء")))
    catalogue = client.get_collection("rawi_articles")
    catalogue.modify(metadata={**(catalogue.metadata or {}), "schema": 1})  # vectors without titles

    old = Store(client, embedder)
    with pytest.raises(ModelMismatch, match=r"store schema 1; .* schema 3 .* Run `rawi reindex`"):
        old.check_model()
    assert not old.needs_metadata_only()  # vectors without titles: re-embedded
    assert reindex(old, Ingestor(old, embedder)) == 1
    assert Store(client, embedder).recorded_model()["schema"] == 3
    hits = old.dense(embedder.embed_query("متى أعيد افتتاح الميناء؟"), 1)
    assert hits[0].article_id == "p" and hits[0].text == "أعيد افتتاحه يوم الثلاثاء."


def test_a_full_disk_stops_the_run_and_keeps_what_was_committed(
    store: Store, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.errors import InternalError

    from retrieval.store.clients import StoreFull

    monkeypatch.setattr(pipeline, "EMBED_GROUP", 1)  # every article its own write
    commit = store._commit
    writes: list[int] = []

    def fills_the_disk(*args: object, **kwargs: object) -> object:
        writes.append(1)
        if len(writes) >= 3:  # what Chroma raises on a full disk
            raise InternalError(
                "Query error: Database error: error returned from database: (code: 13) "
                "database or disk is full"
            )
        return commit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_commit", fills_the_disk)
    articles = [art(f"d{i}", f"The dam report number {i} was published today.") for i in range(6)]
    report = pipeline.IngestReport()
    with pytest.raises(StoreFull, match="free some space and run the same ingest again"):
        Ingestor(store, embedder).run(loaded(*articles), report=report)
    assert report.added == ["d0", "d1"] and [o for o, _ in report.failed] == ["test:d2"]
    assert len(writes) == 3  # no write was tried after the disk filled
    monkeypatch.setattr(store, "_commit", commit)
    assert sorted(a.id for a in store.catalogue.articles()) == ["d0", "d1"]
    again = Ingestor(store, embedder).run(loaded(*articles))  # space freed: it continues
    assert again.unchanged == ["d0", "d1"] and again.added == ["d2", "d3", "d4", "d5"]
