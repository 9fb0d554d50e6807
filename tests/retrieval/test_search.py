"""Hybrid search over real Chroma, the real model and the real lexical index."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.search import Searcher, fused_score, rank
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.store.lexical import LexicalIndex
from retrieval.store.parts import best_sentence_cosines
from retrieval.types import Article, ChunkRecord
from tests.auxil.faults import crash_before_commit
from tests.auxil.helpers import ROOT, rawi, searcher_for

BODY = 2  # the founding article's long body paragraph


def sentence_in(hit_text: str, needle: str) -> bool:
    return needle in hit_text


def test_arabic_question_finds_the_right_paragraph(
    news: Searcher, founding_article: Article
) -> None:
    res = news.search("كم مرة زار بلينكن إسرائيل منذ هجوم حماس؟", k=3)
    top = res.hits[0]
    assert top.article_id == founding_article.id and top.paragraph == BODY
    assert "زيارته الرابعة" in top.text
    assert res.answerable


def test_english_question_over_arabic_text(news: Searcher, founding_article: Article) -> None:
    res = news.search("How many times has Blinken visited Israel since the Hamas attack?", k=3)
    assert res.hits[0].article_id == founding_article.id
    assert res.answerable


def test_unrelated_question_has_no_answer(news: Searcher) -> None:
    res = news.search("Who won the 2022 Nobel Prize in Physics?", k=3)
    assert not res.answerable
    res_ar = news.search("من فاز بجائزة نوبل للفيزياء عام 2022؟", k=3)
    assert not res_ar.answerable


def test_search_reading_its_two_sides_at_once_ranks_as_the_steps_do(news: Searcher) -> None:
    # search() reads the lexical and the dense side at once: the result is that of
    # the same steps taken one by one
    arabic = "كم مرة زار بلينكن إسرائيل منذ هجوم حماس؟"
    assert news.lexical.search(arabic, news.params.candidates)  # both sides propose
    for q in (arabic, "How many times has Blinken visited Israel?"):
        vector = news.embedder.embed_query(q)
        steps = rank(news.candidates(q, vector), news.params, 5, news.lexical.count())
        both = news.search(q, 5)
        assert np.array_equal(both.vector, vector)
        assert (
            [(h.chunk_id, h.score) for h in both.hits]
            == [(h.chunk_id, h.score) for h in steps.hits]
            != []
        )
        assert both.answerable == steps.answerable


def test_a_sentence_weight_ranks_by_the_best_sentence(news: Searcher) -> None:
    q = "How many Palestinians have been killed in Gaza?"
    vector = news.embedder.embed_query(q)
    candidates = news.candidates(q, vector).items
    long = [c for c in candidates if len(c.hit.parts) > 1]
    assert long  # the founding article's long paragraph, at least
    best = best_sentence_cosines([c.hit for c in candidates], vector)
    for c, b in zip(candidates, best, strict=True):
        if c.hit.part_vectors is not None:
            assert b == pytest.approx(float(np.max(c.hit.part_vectors @ vector)), abs=1e-5)
        else:
            assert b == pytest.approx(c.cosine)
    weighted = replace(news.params, sentence_weight=1.0)
    alone = replace(weighted, sentence_weight=0.0)
    for c, b in zip(candidates, best, strict=True):
        by_sentence = replace(c, cosine=float(b))
        assert fused_score(c, weighted, float(b)) == pytest.approx(
            fused_score(by_sentence, alone, float(b))
        )


def test_hit_json_shape(news: Searcher) -> None:
    hit = news.search("بلينكن الأردن", k=1).hits[0].to_json()
    assert set(hit) == {
        "article_id",
        "paragraph",
        "chunk_id",
        "start",
        "end",
        "text",
        "score",
        "title",
        "source",
        "published",
        "url",
    }
    assert 0.0 <= hit["score"] <= 1.0


def art(aid: str, text: str, title: str = "خبر") -> Article:
    return make_article([text], title=title, given_id=aid)


def ids(searcher: Searcher, q: str) -> list[str]:
    return [h.article_id for h in searcher.lexical.search(q, 10)]  # type: ignore[misc]


def test_lexical_index_follows_add_replace_remove(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder, tmp_path / "lex.sqlite")
    ing = Ingestor(store, embedder)
    ing.run([Loaded("a", art("a", "افتتحت البلدية مكتبة عامة جديدة في الميناء"))])
    ing.run([Loaded("b", art("b", "أمطار غزيرة تغلق الطريق الساحلي"))])
    assert ids(searcher, "المكتبة العامة") == ["a"]
    ing.run([Loaded("a", art("a", "ملعب جديد لكرة القدم قرب الميناء"))])  # replaced
    assert ids(searcher, "المكتبة العامة") == []
    assert ids(searcher, "ملاعب كرة القدم") == ["a"]
    store.remove("b")
    assert ids(searcher, "الأمطار الغزيرة") == []
    assert searcher.lexical.revisions() == {"a": store.catalogue.info("a").revision}  # type: ignore[union-attr]
    # the document frequencies kept beside the index are FTS5's own counts
    db = searcher.lexical._db
    db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, chunks, row)")
    assert dict(db.execute("SELECT term, n FROM df WHERE n > 0")) == dict(
        db.execute("SELECT term, doc FROM temp.v")
    )


def test_lexical_index_rebuilt_when_deleted_or_stale(tmp_path: Path, embedder: Embedder) -> None:
    client = embedded_client(tmp_path / "db")
    store = Store(client, embedder)
    lex_path = tmp_path / "lex.sqlite"
    searcher = searcher_for(store, embedder, lex_path)
    Ingestor(store, embedder).run([Loaded("a", art("a", "افتتاح مكتبة الميناء العامة"))])
    searcher.lexical.close()

    # Another writer changes the store while this index is not listening.
    other = Store(client, embedder)
    Ingestor(other, embedder).run([Loaded("c", art("c", "مهرجان التمور في القصيم"))])
    other.remove("a")

    store.catalogue.refresh()
    again = searcher_for(store, embedder, lex_path)
    assert ids(again, "مهرجان التمور") == []  # stale until synced
    assert again.sync() == (1, 1)
    assert ids(again, "مهرجان التمور") == ["c"] and ids(again, "مكتبة الميناء") == []
    again.lexical.close()

    lex_path.unlink()  # deleted: rebuilt from Chroma
    Path(str(lex_path) + "-wal").unlink(missing_ok=True)
    rebuilt = searcher_for(store, embedder, lex_path)
    rebuilt.sync()
    assert ids(rebuilt, "مهرجان التمور") == ["c"]
    rebuilt.lexical.close()

    lex_path.write_bytes(b"this is not a database" * 100)  # damaged: rebuilt too
    Path(str(lex_path) + "-wal").unlink(missing_ok=True)
    Path(str(lex_path) + "-shm").unlink(missing_ok=True)
    damaged = searcher_for(store, embedder, lex_path)
    damaged.sync()
    assert ids(damaged, "مهرجان التمور") == ["c"]


def test_candidates_come_from_the_local_index_and_the_store_fills_gaps(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run(
        [
            Loaded("a", art("a", "افتتحت البلدية مكتبة عامة جديدة في الميناء. تفتح يوميا.")),
            Loaded("b", art("b", "أمطار غزيرة تغلق الطريق الساحلي")),
        ]
    )
    q = "متى تفتح المكتبة العامة الجديدة؟"
    held = searcher.lexical.records([f"{h.chunk_id}" for h in searcher.search(q).hits])
    assert {r.article_id for r in held} == {"a", "b"}
    for r in held:  # what was written: text, metadata and vector
        assert r.meta["revision"] == r.revision == store.catalogue.info(r.article_id).revision  # type: ignore[union-attr]
        assert r.vector is not None and r.vector.shape == (384,)
    # a hit read from the local index is the hit read from Chroma (whose copy of a
    # vector may differ from the one written in the last bit: scores to 1e-6)
    ids = [r.chunk_id for r in held]
    vector = embedder.embed_query(q)
    local, remote = store.hits_from(held, vector), store.hits_by_id(ids, vector)
    assert len(local) == len(remote) == 2
    for a, b in zip(local, remote, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert replace(a, score=b.score, dense=b.dense) == b
    # When the local index does not hold a chunk yet (another process's fresh
    # write), dense search still finds it, read from Chroma.
    searcher.lexical.clear()
    assert searcher.lexical.records(ids) == []
    assert searcher.search(q).hits[0].article_id == "a"


def test_lexical_query_cost_is_bounded_by_dropping_the_commonest_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrieval.store import lexical

    assert lexical.within_budget(["a", "b", "c"], {"a": 5, "b": 1, "c": 3}) == ["a", "b", "c"]
    monkeypatch.setattr(lexical, "POSTING_BUDGET", 4)
    # the rarest first, in query order; the commonest left out; one always kept
    assert lexical.within_budget(["a", "b", "c"], {"a": 5, "b": 1, "c": 3}) == ["b", "c"]
    assert lexical.within_budget(["a"], {"a": 50}) == ["a"]
    monkeypatch.undo()

    index = LexicalIndex(None)
    common = [f"c{i}" for i in range(6)]
    texts = {aid: f"الميناء خبر {aid}" for aid in common}  # الميناء in six chunks
    texts["r"] = "مكتبة الميناء الجديدة"  # مكتبة in one
    texts["s"] = "مكتبة المدينة"
    texts.update({f"f{i}": f"طقس معتدل {i}" for i in range(22)})  # الميناء in 6 of 30
    index.apply([ChunkRecord(f"{a}|1|0", a, "1", t) for a, t in texts.items()])
    assert {h.article_id for h in index.search("مكتبة الميناء", 20)} == {"r", "s", *common}
    monkeypatch.setattr(lexical, "POSTING_BUDGET", 3)
    # الميناء's six postings no longer fit: only مكتبة is searched
    assert {h.article_id for h in index.search("مكتبة الميناء", 20)} == {"r", "s"}


def test_an_articles_own_coverage_is_what_search_gives_its_chunks() -> None:
    """``coverages`` reads one article's rows: each chunk's coverage is the one the
    full search gives it, and other articles' rows, even between its own, are left out."""
    index = LexicalIndex(None)
    rows = [ChunkRecord(f"f{i}|1|0", f"f{i}", "1", f"طقس معتدل {i}") for i in range(20)]
    rows += [
        ChunkRecord("a|1|0", "a", "1", "مكتبة الميناء الجديدة تفتح أبوابها"),
        ChunkRecord("b|1|0", "b", "1", "مكتبة الميناء القديمة"),  # rows written in one go
        ChunkRecord("a|1|1", "a", "1", "مكتبة صغيرة"),
        ChunkRecord("a|1|2", "a", "1", "طقس معتدل"),
    ]
    index.apply(rows)
    q = "مكتبة الميناء"
    searched = {h.chunk_id: h.coverage for h in index.search(q, 50)}
    own = index.coverages(q, "a")
    assert set(own) == {"a|1|0", "a|1|1"}  # the chunk without either term has none
    assert own == {cid: searched[cid] for cid in own}
    assert "b|1|0" in searched
    assert own["a|1|0"] > own["a|1|1"] > 0
    assert index.coverages(q, "missing") == {} and index.coverages("xyz", "a") == {}


def test_only_live_revisions_are_returned(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder)
    ing = Ingestor(store, embedder)
    ing.run([Loaded("x", art("x", "The harbour reopened on Tuesday after the storm.", "Harbour"))])
    new = art("x", "Football final ends in a penalty shoot-out.", "Final")
    chunks = ing.chunk(new)
    with pytest.raises(Exception, match="simulated"), crash_before_commit(store):
        store.write(new, chunks, embedder.embed_passages([c.text for c in chunks]))
    # the orphaned chunks are in Chroma, and in neither result
    for q in ("football penalty shoot-out", "harbour storm"):
        res = searcher.search(q, k=5)
        assert [h.text for h in res.hits] == ["The harbour reopened on Tuesday after the storm."]


@pytest.mark.slow
def test_cli_search_json_and_batch(tmp_path: Path) -> None:
    data = tmp_path / "d"
    sample = ROOT / "config" / "sample"
    assert rawi("ingest", str(sample), data_dir=data).returncode == 0
    out = rawi("search", "How big is the solar farm?", "--json", "--k", "2", data_dir=data)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert len(hits) == 2 and hits[0]["title"] == "Oasis City switches on its first solar farm"
    assert hits[0]["score"] >= hits[1]["score"]

    batch = tmp_path / "q.jsonl"
    batch.write_text(
        json.dumps({"id": "q1", "question": "متى تفتح المكتبة؟"})
        + "\n"
        + "{oops\n"
        + json.dumps({"id": "q3"})
        + "\n"
        + json.dumps({"id": "q4", "question": "Who saved two penalties?"})
        + "\n"
    )
    out = rawi("search", "--batch", str(batch), "--k", "1", data_dir=data)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["q1", "line-2", "q3", "q4"]
    assert "مكتبة" in lines[0]["hits"][0]["title"]
    assert "invalid JSON" in lines[1]["error"] and "question" in lines[2]["error"]
    assert lines[3]["hits"][0]["title"].startswith("Harbour FC")
    assert "questions" in out.stderr  # progress on standard error only


@pytest.mark.slow
def test_cli_ask_json_and_batch(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert rawi("ingest", str(ROOT / "config" / "sample"), data_dir=data).returncode == 0
    out = rawi("ask", "How many panels does the solar farm have?", "--json", data_dir=data)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["grounded"] and answer["language"] == "en"
    assert any("92,000 panels" in c["quote"] for c in answer["citations"])
    assert "92,000 panels" in answer["answer"]

    batch = tmp_path / "q.jsonl"
    batch.write_text(
        json.dumps({"id": 1, "question": "كم بلغت كلفة ترميم المكتبة؟"})
        + "\n[]\n"
        + json.dumps({"id": "x", "question": "What is the capital of Peru?"})
        + "\n"
    )
    out = rawi("ask", "--batch", str(batch), data_dir=data)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["id"] for x in lines] == [1, "line-2", "x"]
    assert lines[0]["grounded"] and "اثني عشر مليون" in lines[0]["answer"]
    assert "question" in lines[1]["error"]
    assert lines[2]["grounded"] is False and lines[2]["citations"] == []


def test_a_paragraph_is_found_by_the_subject_its_title_names(
    tmp_path: Path, embedder: Embedder
) -> None:
    # The same body under two titles: only the title tells the articles apart.
    body = "أعيد افتتاحه صباح الثلاثاء بعد ثلاثة أشهر من أعمال الصيانة."
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder, tmp_path / "lex.sqlite")
    Ingestor(store, embedder).run(
        [
            Loaded("port", art("port", body, title="ميناء بيروت")),
            Loaded("airport", art("airport", body, title="مطار القاهرة الدولي")),
        ]
    )
    # the title's words are indexed with the paragraph, also when the index is
    # rebuilt from the store
    assert ids(searcher, "مطار القاهرة") == ["airport"]
    searcher.lexical.clear()
    assert ids(searcher, "مطار القاهرة") == []
    searcher.sync()
    assert ids(searcher, "مطار القاهرة") == ["airport"] and ids(searcher, "بيروت") == ["port"]
    for q, want in [
        ("متى أعيد افتتاح مطار القاهرة؟", "airport"),
        ("When did the port of Beirut reopen?", "port"),
        ("When did Cairo airport reopen?", "airport"),
    ]:
        hits = searcher.search(q, 2).hits
        assert hits[0].article_id == want, q
        assert hits[0].score > hits[1].score, q
        # what is stored and cited is the paragraph alone, not its title
        assert hits[0].text == body and (hits[0].start, hits[0].end) == (0, len(body))


def test_a_store_of_a_few_chunks_is_ranked_by_the_dense_score_alone(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder)
    ing = Ingestor(store, embedder)
    ferry = "The harbour ferry will leave every 40 minutes from Sunday."
    ing.run([Loaded("f", art("f", ferry, title="Ferry timetable changes"))])
    q = "How often will the harbour ferry leave?"
    # one chunk: every term it holds is in all of them, and BM25 gives it no weight
    assert searcher.lexical.search(q, 5)[0].coverage < 1e-3
    assert all(c.coverage is None for c in searcher.candidates(q, embedder.embed_query(q)).items)
    assert searcher.search(q).answerable
    assert not searcher.search("Who won the Nobel Prize in Physics in 2022?").answerable

    others = [f"خبر رقم {i} عن افتتاح سوق جديد للخضار في الحي {i}." for i in range(9)]
    ing.run([Loaded(f"o{i}", art(f"o{i}", t)) for i, t in enumerate(others)])
    assert searcher.lexical.count() >= 10  # now the lexical side counts
    cands = searcher.candidates(q, embedder.embed_query(q)).items
    assert all(c.coverage is not None for c in cands)
    assert searcher.search(q).hits[0].article_id == "f"
