"""Questions about a date, an outlet, "the latest", or days relative to the
reader's today (`make eval`), asked of the 3,000-article SaudiNewsNet store
(:mod:`bench.news`) through the whole service, as a reader asks them.

The sets (``bench/data/news/when-{dev,test}.jsonl``) were written from days other
than 2015-07-25 … 08-02; each line gives the reader's today (``as_of``), the
window or outlet asked for, and every article that answers (``gold``). A question
holds when the first citation is a gold article and, for date, relative and
outlet questions, every citation is inside the window / from the outlet.

    python -m bench.when [--split dev]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import date
from typing import Any

from bench.common import ROOT, report

KINDS = ("latest", "date", "outlet", "relative")
STORE_SIZE = 3000


def questions(split: str) -> list[dict[str, Any]]:
    path = ROOT / "bench" / "data" / "news" / f"when-{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def holds(q: dict[str, Any], answer: Any) -> bool:
    if not answer.grounded or not answer.citations:
        return False
    if answer.citations[0].article_id not in q["gold"]:
        return False
    if q["kind"] in ("date", "relative"):
        low, high = q["since"] or "0000-00-00", q["until"] or "9999-99-99"
        return all(low <= (c.published or "")[:10] <= high for c in answer.citations)
    if q["kind"] == "outlet":
        return all(c.source == q["source"] for c in answer.citations)
    return True


def service(embedder: Any = None) -> Any:
    """The reader's service over the 3,000-article store, outlets as shipped."""
    from bench.common import MODEL_CACHE
    from bench.news import NewsStore
    from config.settings import load_settings
    from retrieval.answer.extractive import ExtractiveAnswerer
    from retrieval.model.embedder import Embedder
    from retrieval.scope import Outlets
    from retrieval.service import QAService

    embedder = embedder or Embedder(cache_dir=MODEL_CACHE)
    store = NewsStore(STORE_SIZE, embedder)
    outlets = {k: v.model_dump() for k, v in load_settings().outlets.items()}
    answerer = ExtractiveAnswerer(embedder, outlets=Outlets(outlets))
    return QAService(store.searcher, answerer, outlets=outlets)


def figures(qa: Any, split: str, misses: list[str] | None = None) -> dict[str, Any]:
    """The share of questions that hold, per kind and language."""
    held: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for q in questions(split):
        answer = qa.ask(q["question"], today=date.fromisoformat(q["as_of"])).answer
        ok = holds(q, answer)
        held[q["kind"], q["lang"]].append(ok)
        if not ok and misses is not None:
            cited = [(c.article_id, (c.published or "")[:10], c.source) for c in answer.citations]
            misses.append(f"{q['id']} {q['question']} -> {answer.kind} {cited[:3]}")
    out: dict[str, Any] = {}
    for kind in KINDS:
        both = held[kind, "ar"] + held[kind, "en"]
        out[kind] = {
            "all": round(sum(both) / len(both), 3),
            "ar": round(sum(held[kind, "ar"]) / len(held[kind, "ar"]), 3),
            "en": round(sum(held[kind, "en"]) / len(held[kind, "en"]), 3),
            "n": len(both),
        }
    return out


def news_through_the_service(qa: Any, split: str, today: date) -> dict[str, Any]:
    """The news set's questions (``bench/data/news``) asked as readers ask them,
    their time and outlet words read (with ``today`` as the reader's day): the
    figures :mod:`bench.news` gives for the searcher alone should hold."""
    from bench.news import figures as news_figures
    from bench.news import questions as news_questions

    qs = news_questions(split)
    replies = [qa.ask(q.text, today=today) for q in qs]
    return news_figures(qs, [r.result for r in replies], [r.answer for r in replies])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--misses", action="store_true", help="list the questions that fail")
    args = parser.parse_args()
    misses: list[str] = []
    qa = service()
    result = figures(qa, args.split, misses if args.misses else None)
    # the day after each set's last day
    today = date(2015, 8, 12) if args.split == "test" else date(2015, 7, 25)
    result["news_set_through_the_service"] = news_through_the_service(qa, args.split, today)
    report(f"when-{args.split}", result)
    for line in misses:
        print(line)


if __name__ == "__main__":
    main()
