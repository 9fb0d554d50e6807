"""Retrieval and answer quality (`make eval`), for the shipped settings
(``config/default.toml``), on held-out sets:

- the news sets (``bench/data/news/``) over SaudiNewsNet stores of 300, 3,000 and
  15,000 articles (:mod:`bench.news`): answerable questions answered and holding
  their fact, unanswerable ones refused, far and near, Arabic and English; the
  thresholds were chosen on the development set with
  :func:`bench.news.tune_thresholds`, whose choice today is reported beside;
- questions about a date, an outlet, "the latest" or days relative to the reader's
  today, over the 3,000-article store, through the whole service (:mod:`bench.when`);
- the follow-up decision and the small-talk detector on their labelled sets;
- ARCD (all 465 paragraphs searched): Arabic test questions and their English
  renderings, and the ARCD-subject unanswerable questions;
- SaudiNewsNet title → article on 500 articles.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    MODEL_CACHE,
    ROOT,
    SHARED,
    need,
    report,
    saudinewsnet_articles,
    shipped,
)
from retrieval.text import detect_language

DATA = ROOT / "bench" / "data"


@dataclass
class Question:
    id: str
    text: str
    gold: str | None  # article id of the paragraph that answers; None = unanswerable
    answers: list[str]


def arcd(split: str) -> tuple[list[dict[str, Any]], list[Question]]:
    data = json.loads(need(SHARED / "arcd" / f"arcd-{split}.json").read_text())
    paragraphs, questions = [], []
    for art in data["data"]:
        for para in art["paragraphs"]:
            ctx = para["context"]
            pid = "arcd-" + hashlib.blake2b(ctx.encode(), digest_size=6).hexdigest()
            paragraphs.append(
                {"id": pid, "title": art["title"], "paragraphs": [ctx], "source": "ARCD"}
            )
            for qa in para["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                questions.append(Question(qa["id"], qa["question"], pid, answers))
    return paragraphs, questions


def english(questions: list[Question], name: str = "arcd-test-en.tsv") -> list[Question]:
    by_id = {q.id: q for q in questions}
    out = []
    for line in (DATA / name).read_text().splitlines():
        qid, text = line.split("\t", 1)
        q = by_id[qid]
        out.append(Question(qid, text, q.gold, q.answers))
    return out


def unanswerable(name: str) -> list[Question]:
    """Questions the corpus cannot answer, from every ``unanswerable-NAME*.txt``.
    The development set has two files: news questions on any subject, and news
    questions on the corpus's own subjects (a country, a club, a disease ARCD has a
    paragraph on) asking what no paragraph says: those are the hard case, whose
    words and topic the coverage shares."""
    files = sorted(DATA.glob(f"unanswerable-{name}*.txt"))
    lines = [t for f in files for t in f.read_text().splitlines() if t.strip()]
    return [Question(f"{name}-{i}", t, None, []) for i, t in enumerate(lines)]


class Bench:
    def __init__(self, candidates: int = 40) -> None:
        from retrieval.ingest.loaders import Loaded, article_from_record
        from retrieval.ingest.pipeline import Ingestor
        from retrieval.model.embedder import Embedder
        from retrieval.search import Searcher
        from retrieval.store.chunks import Store
        from retrieval.store.clients import embedded_client
        from retrieval.store.lexical import LexicalIndex

        self.embedder = Embedder(cache_dir=MODEL_CACHE)
        self.store = Store(embedded_client(Path(tempfile.mkdtemp()) / "chroma"), self.embedder)
        lexical = LexicalIndex(None)
        lexical.follow(self.store)
        self.searcher = Searcher(self.store, self.embedder, lexical, shipped(candidates))
        self.ingestor = Ingestor(self.store, self.embedder)
        self._article_from_record = article_from_record
        self._loaded = Loaded
        self.vectors: dict[str, np.ndarray] = {}

    def add(self, records: list[dict[str, Any]]) -> None:
        items = [self._loaded(r["id"], self._article_from_record(r)) for r in records]
        rep = self.ingestor.run(items)
        print(f"ingested: {rep.summary()}", file=sys.stderr)

    def candidates(self, questions: list[Question]) -> list[Any]:
        vectors = self.embedder.embed_queries([q.text for q in questions])
        self.vectors.update({q.text: v for q, v in zip(questions, vectors, strict=True)})
        return [
            self.searcher.candidates(q.text, v) for q, v in zip(questions, vectors, strict=True)
        ]

    def answers(
        self, questions: list[Question], cands: list[Any], params: Any, config: dict[str, Any]
    ) -> list[Any]:
        from retrieval.answer.extractive import ExtractiveAnswerer
        from retrieval.search import rank

        answerer = ExtractiveAnswerer(self.embedder, **config)
        out = []
        for q, c in zip(questions, cands, strict=True):
            res = rank(c, params, 5)
            out.append(answerer.answer(q.text, res))
        return out


def ranked_articles(cands: list[Any], params: Any, k: int = 10) -> tuple[list[str], float]:
    from retrieval.search import rank

    res = rank(cands, params, 50)
    seen: list[str] = []
    for h in res.hits:
        if h.article_id not in seen:
            seen.append(h.article_id)
    return seen[:k], res.top_score


def retrieval_figures(questions: list[Question], cands: list[Any], params: Any) -> dict[str, float]:
    r1 = r5 = mrr = 0.0
    for q, c in zip(questions, cands, strict=True):
        arts, _ = ranked_articles(c, params)
        if q.gold in arts[:1]:
            r1 += 1
        if q.gold in arts[:5]:
            r5 += 1
        if q.gold in arts[:10]:
            mrr += 1 / (arts.index(q.gold) + 1)
    n = len(questions)
    return {"recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4), "mrr@10": round(mrr / n, 4)}


def no_answer_rate(questions: list[Question], cands: list[Any], params: Any, chunks: int) -> float:
    """The share of questions search says the coverage does not answer."""
    from retrieval.search import rank

    refused = [not rank(c, params, 5, chunks).answerable for c in cands]
    return round(sum(refused) / len(refused), 4)


def answer_figures(questions: list[Question], answers: list[Any]) -> dict[str, float]:
    def norm(s: str) -> str:
        return " ".join(s.split())

    contains = sum(
        any(norm(a) in norm(ans.text) for a in q.answers)
        for q, ans in zip(questions, answers, strict=True)
    )
    return {
        "answer_contains_gold": round(contains / len(questions), 4),
        "mean_answer_chars": round(sum(len(a.text) for a in answers) / len(answers), 1),
        "grounded": round(sum(a.grounded for a in answers) / len(answers), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-titles", action="store_true", help="skip the SaudiNewsNet check")
    parser.add_argument("--skip-news", action="store_true", help="skip the news question sets")
    parser.add_argument("--candidates", type=int, default=40, help="candidates from each side")
    args = parser.parse_args()
    params = shipped(args.candidates)
    figures: dict[str, Any] = {"settings": "shipped (config/default.toml)"}
    figures["arcd"], arcd_dev = arcd_figures(params, args.candidates)
    figures["followup"] = {split: followup_figures(split) for split in ("dev", "dev2", "test")}
    figures["smalltalk"] = {split: smalltalk_figures(split) for split in ("dev", "dev2", "test")}
    if not args.skip_news:
        figures["news"] = news_figures(params, arcd_dev)
        figures["when"] = when_figures()
    if not args.skip_titles:
        figures["saudinewsnet_title_recall@5"] = titles(params)
    report("eval", figures)


def arcd_figures(params: Any, candidates: int) -> tuple[dict[str, Any], Any]:
    """Retrieval, refusal and answers on ARCD (all 465 paragraphs searched), its
    English renderings, and the ARCD-subject unanswerable questions; and ARCD's
    development questions, for the threshold tuner."""
    from bench.news import DevSet, NewsQuestion

    train_paras, train_q = arcd("train")
    test_paras, test_q = arcd("test")
    en_q = english(test_q)
    un_test = unanswerable("test")
    bench = Bench(candidates)
    records = {r["id"]: r for r in train_paras + test_paras}
    bench.add(list(records.values()))
    chunks = bench.searcher.lexical.count()
    test_c = bench.candidates(test_q)
    en_c = bench.candidates(en_q)
    un_test_c = bench.candidates(un_test)
    dev = [
        *(NewsQuestion(q.id, q.text, "ar", "answerable") for q in train_q),
        *(
            NewsQuestion(q.id, q.text, "en", "answerable")
            for q in english(train_q, "arcd-train-en.tsv")
        ),
        *(NewsQuestion(q.id, q.text, detect_language(q.text), "far") for q in unanswerable("dev")),
    ]
    dev_set = DevSet(dev, bench.candidates(dev), chunks)  # type: ignore[arg-type]
    return {
        "paragraphs": len(records),
        "test_ar": retrieval_figures(test_q, test_c, params),
        "test_en": retrieval_figures(en_q, en_c, params),
        "refused": {
            "unanswerable_test": no_answer_rate(un_test, un_test_c, params, chunks),
            "arcd_test_ar": no_answer_rate(test_q, test_c, params, chunks),
            "arcd_test_en": no_answer_rate(en_q, en_c, params, chunks),
        },
        "answers_test_ar": answer_figures(test_q, bench.answers(test_q, test_c, params, {})),
        "answers_test_en": answer_figures(en_q, bench.answers(en_q, en_c, params, {})),
        "sizes": {"test_ar": len(test_q), "test_en": len(en_q), "unanswerable_test": len(un_test)},
    }, dev_set


def labelled(name: str) -> list[dict[str, Any]]:
    path = DATA / "news" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def precision_recall(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """(predicted, true) pairs: precision and recall of the positive class."""
    tp = sum(p and t for p, t in pairs)
    predicted, actual = sum(p for p, _ in pairs), sum(t for _, t in pairs)
    return {
        "precision": round(tp / predicted, 3) if predicted else None,
        "recall": round(tp / actual, 3) if actual else None,
        "n": len(pairs),
    }


def followup_figures(split: str) -> dict[str, Any]:
    """The follow-up decision on labelled (previous, question) pairs."""
    from retrieval.followup import is_followup

    rows = labelled(f"followup-{split}")
    return {
        lang: precision_recall(
            [(is_followup(r["question"]), r["followup"]) for r in of_language(rows, lang)]
        )
        for lang in ("all", "ar", "en")
    }


def of_language(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    return [r for r in rows if lang in ("all", r["lang"])]


def smalltalk_figures(split: str) -> dict[str, Any]:
    """Small talk told apart from questions for the coverage."""
    from retrieval.smalltalk import smalltalk_kind

    rows = labelled(f"smalltalk-{split}")
    return {
        lang: precision_recall(
            [
                (smalltalk_kind(r["text"]) is not None, r["smalltalk"])
                for r in of_language(rows, lang)
            ]
        )
        for lang in ("all", "ar", "en")
    }


def news_figures(params: Any, arcd_dev: Any) -> dict[str, Any]:
    """The news sets on SaudiNewsNet stores of three sizes: the shipped settings on
    the held-out set (and the development set), and what the threshold tuner picks
    on the development sets (news and ARCD's) now, for reading, not for choosing."""
    from bench.news import NewsBench, dev_sets, tune_thresholds
    from retrieval.answer.extractive import ExtractiveAnswerer

    bench = NewsBench()
    answerer = ExtractiveAnswerer(bench.embedder)
    tuned = tune_thresholds([*dev_sets(bench), arcd_dev], params)
    out: dict[str, Any] = {
        "thresholds": {
            "shipped": [params.threshold, params.cross_threshold, params.threshold_per_decade],
            "tuned_on_dev": [tuned.threshold, tuned.cross_threshold, tuned.threshold_per_decade],
        }
    }
    for n in bench.stores:
        out[f"{n}_articles"] = {
            "test": bench.figures("test", n, params, answerer),
            "dev": bench.figures("dev", n, params, answerer),
        }
    return out


def when_figures() -> dict[str, Any]:
    """Time and outlet questions (held out, and development for reading), and the
    news set's questions asked through the service that reads them."""
    from datetime import date

    from bench import when

    qa = when.service()
    return {
        "test": when.figures(qa, "test"),
        "dev": when.figures(qa, "dev"),
        "news_test_through_the_service": when.news_through_the_service(
            qa, "test", date(2015, 8, 12)
        ),
    }


def titles(params: Any, n: int = 500) -> float:
    """Title as the query, the article body (without its title) as the target."""
    from retrieval.ingest.loaders import Loaded

    bench = Bench()
    items = saudinewsnet_articles(n)
    # the body alone: passages are otherwise embedded under their article's title
    bench.ingestor.run([Loaded(i.origin, replace(i.article, title="")) for i in items])
    questions = [Question(i.article.id, i.article.title, i.article.id, []) for i in items]
    cands = bench.candidates(questions)
    return retrieval_figures(questions, cands, params)["recall@5"]


if __name__ == "__main__":
    main()
