"""The daily digest of one SaudiNewsNet day: how long it takes, and what it holds.

    python -m bench.digest DATA_DIR YYYY-MM-DD [--stories N] [--threshold T]

DATA_DIR is a data dir that holds the day (``rawi --data-dir DATA_DIR ingest
../shared/data/saudinewsnet/YYYY-MM-DD.zip``; about ten minutes for 1,500 articles
on two cores, so it is built once and reused). Prints the build time, the number
of story groups, and each story of the digest with the titles of its reports, to
be read against the day's titles.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import bench.common  # noqa: F401  (quiet threads, offline model)
from bot.compose import Parts
from config.settings import load_settings
from retrieval.digest import DigestBuilder
from retrieval.scope import Outlets


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data_dir", type=Path)
    p.add_argument("day", type=date.fromisoformat)
    p.add_argument("--stories", type=int, default=10)
    p.add_argument("--threshold", type=float)
    args = p.parse_args()
    settings = load_settings({"data_dir": args.data_dir})
    parts = Parts(settings, progress=None)
    outlets = Outlets({k: v.model_dump() for k, v in settings.outlets.items()})
    builder = DigestBuilder(
        parts.store,
        outlets,
        threshold=args.threshold or settings.digest.threshold,
        max_stories=args.stories,
    )
    parts.store.catalogue.live  # noqa: B018  (the catalogue is read once a process)
    started = time.perf_counter()
    digest = builder.build(args.day, "ar")
    seconds = time.perf_counter() - started
    print(
        f"{args.day}: {digest.articles} articles, {digest.groups} stories told by more than"
        f" one article, digest built in {seconds:.1f} s"
    )
    for n, story in enumerate(digest.stories, start=1):
        outs = story.outlets
        print(f"\n{n}. {len(outs)} outlets, {len(story.reports)} articles")
        print(f"   lead ({story.lead.citations[0].source}): {story.lead.text}")
        for r in story.reports:
            print(f"   - {r.source}: {r.title}")
    parts.close()


if __name__ == "__main__":
    main()
