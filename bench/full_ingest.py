"""The whole SaudiNewsNet corpus through `rawi ingest`, against a Chroma server.

Phase 1: one `rawi ingest` process over every archive. Phase 2: two processes at
once, each given every other archive; both skip what phase 1 committed. With
``--minutes M`` each phase is stopped after M minutes by SIGTERM, as a user's
Ctrl-C would, and the next run continues where it stopped; the figures are then
the phases' rates, and the totals are projected from them. Without it the phases
run to the end (about an hour and a half of both cores here).

Figures come from the reports `rawi ingest --json` prints, interrupted or not;
then the store's article and chunk counts are set beside the reports', and no
article may be reported committed twice. Last, the bot's search latency on the
result: the lexical index built from the server's store, then the latency
benchmark's queries.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    MODEL_CACHE,
    ROOT,
    SHARED,
    memory_mb,
    need,
    percentile,
    report,
    saudinewsnet_articles,
    shipped,
    start_chroma_server,
)
from bench.latency import queries

PROJECT_TO = 1_000_000


def ingest_processes(
    groups: list[list[Path]], port: int, work: Path, minutes: float | None
) -> dict[str, Any]:
    """`rawi ingest` over each group of archives, all at once; stopped after
    ``minutes`` if given. Returns the summed figures over the phase's wall time."""
    env = {**os.environ, "RAWI_CACHE_DIR": str(MODEL_CACHE.parent)}
    procs = []
    outputs = []
    started = time.perf_counter()
    for i, group in enumerate(groups):
        data = work / f"ingest-{len(groups)}-{i}"
        data.mkdir(parents=True, exist_ok=True)
        # reports go to files: a pipe nobody reads while the process runs would
        # block it on its last write (the report lists every article id)
        outputs.append(data / "report.json")
        with outputs[-1].open("w") as out, (data / "stderr.log").open("w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "--data-dir", str(data),
                     "--chroma-host", "127.0.0.1", "--chroma-port", str(port),
                     "ingest", *map(str, group), "--json"],
                    cwd=ROOT, env=env, stdout=out, stderr=err,
                )
            )  # fmt: skip
    deadline = None if minutes is None else started + minutes * 60
    while any(p.poll() is None for p in procs):
        if deadline is not None and time.perf_counter() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            break
        time.sleep(1)
    for p in procs:
        p.wait(timeout=600)
    wall = time.perf_counter() - started
    reports = []
    for p, output in zip(procs, outputs, strict=True):
        # 1: some items were not added (an archive's empty items); the report says which
        if p.returncode not in (0, 1, 130):
            sys.exit(f"rawi ingest failed with exit code {p.returncode}: see {output.parent}")
        reports.append(json.loads(output.read_text()))
    added = sum(len(r["added"]) for r in reports)
    tokens = sum(r["tokens"] for r in reports)
    return {
        "processes": len(groups),
        "finished": not any(r["interrupted"] for r in reports),
        "wall_seconds": round(wall, 1),
        "ingest_seconds": [round(r["seconds"], 1) for r in reports],
        "added": added,
        "updated": sum(len(r["updated"]) for r in reports),
        "skipped_as_committed": sum(len(r["unchanged"]) for r in reports),
        "failed": sum(len(r["failed"]) for r in reports),
        "chunks": sum(r["chunks"] for r in reports),
        "tokens": tokens,
        "articles_per_s": round(added / wall, 2),
        "tokens_per_s": round(tokens / wall),
        # the same over the time the processes spent ingesting (no start-up)
        "tokens_per_s_ingesting": round(tokens / max(1e-9, *(r["seconds"] for r in reports))),
        "added_ids": [a for r in reports for a in r["added"]],
    }


def search_times(store: Any, lexical_path: Path) -> dict[str, Any]:
    """Search latency on the result, as the bot searches it: the lexical index
    built from the server's store (kept in the work folder, so a later sitting
    only adds what is new), then the latency benchmark's queries, twice."""
    from retrieval.search import Searcher
    from retrieval.store.lexical import LexicalIndex

    searcher = Searcher(store, store.model, LexicalIndex(lexical_path), shipped())
    started = time.perf_counter()
    searcher.sync()
    synced = time.perf_counter() - started
    qs = queries(saudinewsnet_articles(120))
    for q in qs[:20]:  # warm-up
        searcher.search(q, 5)
    times = []
    for _ in range(2):
        for q in qs:
            t = time.perf_counter()
            searcher.search(q, 5)
            times.append((time.perf_counter() - t) * 1000)
    return {
        "lexical_sync_seconds": round(synced, 1),
        "search_queries": len(qs),
        "search_ms_p50": round(percentile(times, 50), 1),
        "search_ms_p95": round(percentile(times, 95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="stop each phase after this long")
    parser.add_argument(
        "--work", type=Path, help="continue in this folder of an earlier run (its server store)"
    )
    parser.add_argument(
        "--phases",
        default="one,two",
        help="which phases to run: one, two, one,two (default), or none to measure only"
        " the store of --work and its search",
    )
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if not phases <= {"one", "two", "none"}:
        parser.error(f"--phases: unknown phase in {args.phases!r}")

    from retrieval.ingest.loaders import load_paths
    from retrieval.model.embedder import Embedder
    from retrieval.store.chunks import Store
    from retrieval.store.clients import server_client

    archives = sorted(need(SHARED / "saudinewsnet").glob("*.zip"))
    loaded = [item.article.id if item.article else None for item in load_paths(archives)]
    readable = [a for a in loaded if a is not None]
    total = len(set(readable))  # an id met again is a later version of the same page
    work = args.work or Path(tempfile.mkdtemp())
    server, port = start_chroma_server(work / "server")
    try:
        client = server_client("127.0.0.1", port, wait=60)
        one = ingest_processes([archives], port, work, args.minutes) if "one" in phases else None
        two = (
            ingest_processes([archives[0::2], archives[1::2]], port, work, args.minutes)
            if "two" in phases
            else None
        )
        server_rss = memory_mb(server.pid)["rss"]
        disk = sum(f.stat().st_size for f in (work / "server").rglob("*") if f.is_file())

        # the store's counts, to set beside the reports': live articles (removed
        # ones leave a tombstone in the catalogue) and every stored chunk
        store = Store(client, Embedder(cache_dir=MODEL_CACHE))
        stored = len(store.catalogue.live)
        ran = [phase for phase in (one, two) if phase]
        committed = [a for phase in ran for a in phase.pop("added_ids")]
        chunks = store.count_chunks()
        dim = store.model.dim
        searched = search_times(store, work / "lexical.sqlite")
    finally:
        server.terminate()
        server.wait(60)

    figures: dict[str, Any] = {
        "articles_in_corpus": total,
        "items_in_corpus": len(loaded),
        "unreadable_items_in_corpus": len(loaded) - len(readable),
        "minutes_per_phase": args.minutes,
        "one_process": one,
        "two_processes": two,
        "articles_stored": stored,
        "articles_reported_committed": len(committed),
        "committed_twice": len(committed) - len(set(committed)),
        "chunks_stored": chunks,
        "chunks_reported": sum(phase["chunks"] for phase in ran),
        "chroma_server_rss_mb": round(server_rss),
        "chroma_server_disk_mb": round(disk / 2**20),
        **searched,
        "finished": stored >= total,
    }
    if stored:
        per_article = chunks / stored
        figures["chunks_per_article"] = round(per_article, 1)
        figures[f"projected_chunks_{PROJECT_TO}"] = round(PROJECT_TO * per_article)
        figures[f"projected_disk_gb_{PROJECT_TO}"] = round(PROJECT_TO / stored * disk / 2**30, 1)
        # float32 vectors alone, before the index's own structures
        vector_bytes = PROJECT_TO * per_article * dim * 4
        figures[f"projected_vector_gb_{PROJECT_TO}"] = round(vector_bytes / 2**30, 1)
    for name, phase in (("one_process", one), ("two_processes", two)):
        if phase and phase["articles_per_s"] > 0:
            rate = phase["articles_per_s"]
            figures[f"{name}_projected_hours_whole_corpus"] = round(total / rate / 3600, 2)
            figures[f"{name}_projected_days_{PROJECT_TO}"] = round(PROJECT_TO / rate / 86400, 2)
    report("full-ingest", figures)


if __name__ == "__main__":
    main()
