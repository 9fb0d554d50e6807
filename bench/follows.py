"""Follows: 1,000 followed topics checked against each newly committed article.

Corpus: 300 SaudiNewsNet articles in an embedded store. Follows: 1,000 topics, the
latency benchmark's 200 queries (titles and written questions) and titles of
later articles, embedded once as /follow embeds them. Then 30 further articles are
committed one by one, and after each the whole check runs as the bot's job runs it
(its chunks read, the matrix product and the bound over every topic, the
surviving candidates confirmed by the search the answers use).
Target: the check's median <= 50 ms.
"""

from __future__ import annotations

import time

from bench.common import build_corpus, median, percentile, report, saudinewsnet_articles
from bench.latency import queries

N_ARTICLES = 300
N_FOLLOWS = 1000
N_NEW = 30


def main(n_articles: int = N_ARTICLES) -> None:
    from retrieval.follows import Arrivals, Matcher, Topic, Topics
    from retrieval.store.parts import split_chunk_id

    corpus = build_corpus(n_articles)
    later = saudinewsnet_articles(N_NEW + 900, skip=n_articles)
    new_items, topic_items = later[:N_NEW], later[N_NEW:]
    texts = list(dict.fromkeys(queries(corpus.items) + [i.article.title for i in topic_items]))
    texts = texts[:N_FOLLOWS]
    vectors = corpus.embedder.embed_queries(texts)
    started = time.perf_counter()
    topics = Topics([Topic(i, t, v) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))])
    build_ms = (time.perf_counter() - started) * 1000
    matcher = Matcher(corpus.searcher)
    arrivals = Arrivals(corpus.store)

    checks, screens, candidates, matched = [], [], [], []
    for item in new_items:
        corpus.ingestor.run([item])
        (info,) = arrivals.new()
        started = time.perf_counter()
        matches = matcher.check(topics, [info])
        checks.append((time.perf_counter() - started) * 1000)
        records = [
            r
            for r in corpus.store.chunk_records([info.id])
            if split_chunk_id(r.chunk_id)[1] == info.revision
        ]
        started = time.perf_counter()
        found = matcher.candidates(topics, info, records)
        screens.append((time.perf_counter() - started) * 1000)
        candidates.append(len(found))
        matched.append(len(matches))

    report(
        "follows",
        {
            "articles": n_articles,
            "chunks": corpus.store.count_chunks(),
            "follows": len(topics),
            "new_articles": len(new_items),
            "check_ms_median": round(median(checks), 2),
            "check_ms_p95": round(percentile(checks, 95), 2),
            "check_ms_max": round(max(checks), 2),
            "screen_ms_median": round(median(screens), 2),
            "candidates_per_article_median": median(candidates),
            "candidates_per_article_max": max(candidates),
            "matches_total": sum(matched),
            "topics_build_ms": round(build_ms, 1),
            "target_check_ms": 50,
        },
    )


if __name__ == "__main__":
    main()
