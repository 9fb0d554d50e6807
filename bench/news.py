"""SaudiNewsNet stores of a given size, for the news question sets (`make eval`).

The question sets in ``bench/data/news-*.jsonl`` were written from a pool of
articles (``bench/data/news-pool.txt``) drawn from twelve days of SaudiNewsNet;
the days 2015-07-25 … 2015-08-02 are left out of every set and store. A store of
``n`` articles holds the whole pool, then the other articles of those days in a
fixed shuffled order, so a larger store holds every smaller one. Stores are built
once per machine (the largest takes most of an hour) and kept in the user cache.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import MODEL_CACHE, ROOT, SHARED, need, shipped

DAYS = (
    "2015-07-21", "2015-07-22", "2015-07-23", "2015-07-24",
    "2015-08-03", "2015-08-04", "2015-08-06", "2015-08-07",
    "2015-08-08", "2015-08-09", "2015-08-10", "2015-08-11",
)  # fmt: skip
SIZES = (300, 3000, 15000)
STORES = MODEL_CACHE.parent / "bench-news"


def articles_in_order() -> list[Any]:
    """Every readable article of :data:`DAYS` (a page fetched twice: its later
    version), the pool first, then the rest in a fixed shuffled order."""
    from retrieval.ingest.loaders import load_paths

    items: dict[str, Any] = {}
    for day in DAYS:
        for item in load_paths([need(SHARED / "saudinewsnet" / f"{day}.zip")]):
            if item.article is not None:
                items[item.article.id] = item
    pool = (ROOT / "bench" / "data" / "news-pool.txt").read_text().split()
    rest = sorted(set(items) - set(pool))
    random.Random(2015).shuffle(rest)
    return [items[i] for i in [*pool, *rest]]


def store_dir(n: int) -> Path:
    return STORES / f"news-{n}"


def build(sizes: tuple[int, ...] = SIZES) -> None:
    """Build the stores not yet built, each from the next smaller one."""
    from retrieval.ingest.pipeline import Ingestor
    from retrieval.model.embedder import Embedder
    from retrieval.search import Searcher
    from retrieval.store.chunks import Store
    from retrieval.store.clients import embedded_client
    from retrieval.store.lexical import LexicalIndex

    order = articles_in_order()
    embedder = Embedder(cache_dir=MODEL_CACHE)
    previous: Path | None = None
    for n in sorted(sizes):
        target = store_dir(n)
        if (target / "complete").exists():
            previous = target
            continue
        shutil.rmtree(target, ignore_errors=True)
        if previous is not None:
            shutil.copytree(previous, target)
            (target / "complete").unlink()
        target.mkdir(parents=True, exist_ok=True)
        store = Store(embedded_client(target / "chroma"), embedder)
        lexical = LexicalIndex(target / "lexical.sqlite")
        lexical.follow(store)
        searcher = Searcher(store, embedder, lexical, shipped())
        have = set(store.catalogue.revisions())
        todo = [item for item in order[:n] if item.article.id not in have]
        print(f"news-{n}: ingesting {len(todo)} articles", file=sys.stderr)
        report = Ingestor(store, embedder).run(todo)
        print(f"news-{n}: {report.summary()} in {report.seconds:.0f} s", file=sys.stderr)
        searcher.sync()
        store.close()
        (target / "complete").touch()
        previous = target


if __name__ == "__main__":
    build()


# -- the question sets --------------------------------------------------------------


@dataclass(frozen=True)
class NewsQuestion:
    id: str
    text: str
    lang: str
    group: str  # answerable, far or near
    facts: tuple[str, ...] = ()  # for an answerable one: exact phrases that answer it


def questions(split: str) -> list[NewsQuestion]:
    """``bench/data/news/news-{split}.jsonl``: answerable questions with the facts
    that answer them, and unanswerable ones, far (a subject the archive lacks) and
    near (a detail its articles do not give)."""
    out = []
    for line in (ROOT / "bench" / "data" / "news" / f"news-{split}.jsonl").read_text().splitlines():
        r = json.loads(line)
        group = "answerable" if r["kind"] == "answerable" else r["subtype"]
        out.append(
            NewsQuestion(r["id"], r["question"], r["lang"], group, tuple(r.get("facts", ())))
        )
    return out


class NewsStore:
    """One of the built stores, searched without writing."""

    def __init__(self, n: int, embedder: Any) -> None:
        from retrieval.search import Searcher
        from retrieval.store.chunks import Store
        from retrieval.store.clients import embedded_client
        from retrieval.store.lexical import LexicalIndex

        path = store_dir(n)
        if not (path / "complete").exists():
            build()
        self.n = n
        self.store = Store(embedded_client(path / "chroma"), embedder)
        if self.store.needs_metadata_only():  # an earlier version built it: `rawi reindex`
            print(f"news-{n}: adding each passage's date and outlet", file=sys.stderr)
            self.store.add_report_meta()
        lexical = LexicalIndex(path / "lexical.sqlite")
        lexical.follow(self.store)
        self.searcher = Searcher(self.store, embedder, lexical, shipped())
        self.searcher.sync()  # rebuilt when this version indexes otherwise
        self.chunks = self.searcher.lexical.count()

    def candidates(self, qs: list[NewsQuestion], vectors: Any) -> list[Any]:
        return [self.searcher.candidates(q.text, v) for q, v in zip(qs, vectors, strict=True)]


def holds_fact(answer: Any, facts: tuple[str, ...]) -> bool:
    """Whether the answer's quotes hold one of the facts (normalised, spaces
    collapsed: the same words however they are written)."""
    from retrieval.answer.extractive import same_text

    quoted = same_text(" ".join(c.quote for c in answer.citations))
    return any(same_text(f) in quoted for f in facts)


def figures(qs: list[NewsQuestion], results: list[Any], answers: list[Any]) -> dict[str, Any]:
    """Refused share per group and language, and answers holding their fact."""
    out: dict[str, Any] = {}
    for group in ("answerable", "far", "near"):
        for lang in ("ar", "en"):
            idx = [i for i, q in enumerate(qs) if q.group == group and q.lang == lang]
            if not idx:
                continue
            refused = sum(not answers[i].grounded for i in idx) / len(idx)
            key = "lost" if group == "answerable" else f"{group}_refused"
            out[f"{key}_{lang}"] = round(refused, 3)
            if group == "answerable":
                held = sum(holds_fact(answers[i], qs[i].facts) for i in idx) / len(idx)
                out[f"holds_fact_{lang}"] = round(held, 3)
    return out


class NewsBench:
    """The news question sets over the stores of every size, each question's
    candidates read once, so that settings can be compared cheaply."""

    def __init__(self, sizes: tuple[int, ...] = SIZES) -> None:
        from retrieval.model.embedder import Embedder

        self.embedder = Embedder(cache_dir=MODEL_CACHE)
        self.stores = {n: NewsStore(n, self.embedder) for n in sizes}
        self.sets = {split: questions(split) for split in ("dev", "test")}
        self.vectors = {
            split: self.embedder.embed_queries([q.text for q in qs])
            for split, qs in self.sets.items()
        }
        self._cands: dict[tuple[str, int], list[Any]] = {}

    def candidates(self, split: str, n: int) -> list[Any]:
        if (split, n) not in self._cands:
            self._cands[split, n] = self.stores[n].candidates(self.sets[split], self.vectors[split])
        return self._cands[split, n]

    def results(self, split: str, n: int, params: Any) -> list[Any]:

        from retrieval.search import rank

        chunks = self.stores[n].chunks
        return [rank(c, params, 5, chunks) for c in self.candidates(split, n)]

    def figures(self, split: str, n: int, params: Any, answerer: Any) -> dict[str, Any]:
        qs = self.sets[split]
        results = self.results(split, n, params)
        answers = [answerer.answer(q.text, r) for q, r in zip(qs, results, strict=True)]
        return {"articles": n, "chunks": self.stores[n].chunks, **figures(qs, results, answers)}


def refusals(qs: list[NewsQuestion], results: list[Any]) -> dict[str, float]:
    """Share refused per group and language (``lost_*`` for the answerable)."""
    out = {}
    for group in ("answerable", "far", "near"):
        for lang in ("ar", "en"):
            idx = [i for i, q in enumerate(qs) if q.group == group and q.lang == lang]
            key = "lost" if group == "answerable" else f"{group}_refused"
            out[f"{key}_{lang}"] = sum(not results[i].answerable for i in idx) / max(1, len(idx))
    return out


@dataclass(frozen=True)
class DevSet:
    """Development questions with their candidates, in a store of ``chunks`` chunks."""

    questions: list[NewsQuestion]
    candidates: list[Any]
    chunks: int


def dev_sets(bench: NewsBench) -> list[DevSet]:
    return [
        DevSet(bench.sets["dev"], bench.candidates("dev", n), store.chunks)
        for n, store in bench.stores.items()
    ]


def tune_thresholds(sets: list[DevSet], params: Any, max_lost: float = 0.05) -> Any:
    """The thresholds (same script, across scripts, rise per tenfold chunks) that
    refuse the most unanswerable development questions (far and near, Arabic and
    English alike, in every set) while answering all but ``max_lost`` of the
    answerable ones in each language of every set."""
    import itertools
    import math
    from dataclasses import replace
    from functools import cache

    from retrieval.search import REFERENCE_CHUNKS, rank, why_not

    # the ranking does not depend on the thresholds: read it once
    free = replace(params, threshold=0.0, cross_threshold=0.0, threshold_per_decade=0.0)
    ranked = []
    for dev in sets:
        ranked.append([
            [(h, same[h.chunk_id]) for h in rank(cands, free, 5).hits]
            for cands in dev.candidates
            for same in [{c.hit.chunk_id: c.same_script for c in cands.items}]
        ])  # fmt: skip

    @cache
    def refused(s: int, i: int, same_t: float, cross_t: float) -> bool:
        best = [(h, same_t if same else cross_t) for h, same in ranked[s][i]]
        return why_not(sets[s].questions[i].text, best) is not None

    best: tuple[float, tuple[float, float, float]] | None = None
    for same_t, cross_t, rise in itertools.product(
        [round(0.40 + 0.01 * i, 2) for i in range(26)],
        [round(0.40 + 0.01 * i, 2) for i in range(26)],
        (0.0, 0.01, 0.02, 0.03, 0.04),
    ):
        value = 0.0
        for s, dev in enumerate(sets):
            lift = rise * math.log10(max(dev.chunks, 100) / REFERENCE_CHUNKS)
            shares: dict[tuple[str, str], list[bool]] = {}
            for i, q in enumerate(dev.questions):
                r = refused(s, i, round(same_t + lift, 4), round(cross_t + lift, 4))
                shares.setdefault((q.group, q.lang), []).append(r)
            share = {key: sum(v) / len(v) for key, v in shares.items()}
            if any(v > max_lost for (group, _), v in share.items() if group == "answerable"):
                value = -1.0
                break
            value += sum(v for (group, _), v in share.items() if group != "answerable")
        if best is None or value > best[0]:
            best = (value, (same_t, cross_t, rise))
    assert best is not None
    same_t, cross_t, rise = best[1]
    return replace(params, threshold=same_t, cross_threshold=cross_t, threshold_per_decade=rise)
