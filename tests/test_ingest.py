"""Ingestion into a real Chroma store with the real bundled model."""

import copy
import signal
from pathlib import Path

import numpy as np
import pytest

from retrieval.embeddings import Embedder
from retrieval.ingest import Ingestor, interrupts_deferred, reindex
from retrieval.loaders import Loaded, load_paths, make_article
from retrieval.store import ModelMismatch, Store, StoreError, embedded_client
from retrieval.types import Article


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
    assert chunks_before == store.info("a1").chunks + store.info("b1").chunks  # type: ignore[union-attr]

    r2 = ing.run(loaded(a, b))  # the same articles again change nothing
    assert sorted(r2.unchanged) == ["a1", "b1"] and not r2.added and not r2.updated
    assert store.count_chunks() == chunks_before
    rev = store.info("a1").revision  # type: ignore[union-attr]

    a2 = art("a1", "وصل الوزير إلى الرياض مساء الجمعة.")
    r3 = ing.run(loaded(a2))
    assert r3.updated == ["a1"]
    assert store.info("a1").revision != rev  # type: ignore[union-attr]
    assert store.get_article("a1") == a2
    texts = [doc for _, doc, meta in store.iter_chunks() if meta["article_id"] == "a1"]
    assert texts == ["وصل الوزير إلى الرياض مساء الجمعة."]  # no chunk of the old text is left

    assert store.remove("a1")
    assert not store.remove("a1")
    assert store.info("a1") is None
    assert all(meta["article_id"] != "a1" for _, _, meta in store.iter_chunks())
    hits = store.dense(embedder.embed_query("الوزير في الرياض"), 5)
    assert [h.article_id for h in hits] == ["b1"]


def test_chunk_spans_point_into_the_article(
    store: Store, embedder: Embedder, founding_article: Article
) -> None:
    Ingestor(store, embedder).run(loaded(founding_article))
    text = store.get_article(founding_article.id).text  # type: ignore[union-attr]
    for _, doc, meta in store.iter_chunks():
        assert text[meta["start"] : meta["end"]] == doc
        assert meta["paragraph"] in (1, 2)


def test_a_crash_before_commit_leaves_the_old_revision_whole(
    store: Store, embedder: Embedder
) -> None:
    ing = Ingestor(store, embedder)
    old = art("x", "The old text about the storm in the harbour.", title="Storm")
    ing.run(loaded(old))
    old_rev = store.info("x").revision  # type: ignore[union-attr]
    new = art("x", "Completely different text about a football final.", title="Final")
    chunks = ing.chunk(new)
    vectors = embedder.embed_passages([c.text for c in chunks])
    with pytest.raises(StoreError, match="simulated crash"):
        store.write(new, chunks, vectors, crash_before_commit=True)

    # A fresh process sees the old revision, whole, and search returns only it.
    store.refresh()
    assert store.info("x").revision == old_rev  # type: ignore[union-attr]
    assert store.get_article("x") == old
    hits = store.dense(embedder.embed_query("football final"), 10)
    assert hits and all(h.text == old.paragraphs[0] for h in hits)
    assert store.count_chunks() == 2  # the orphan is there, but invisible
    assert store.resync(min_age=3600) == 0  # too recent: its writer may be about to commit
    assert store.resync() == 1
    assert store.count_chunks() == 1


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
