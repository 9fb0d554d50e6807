"""Helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
MODEL_CACHE = Path(platformdirs.user_cache_dir("rawi")) / "models"

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark data missing: {path} (the shared data folder sits beside the project)")
    return path


def saudinewsnet_articles(n: int, skip: int = 0) -> list[Any]:
    """The first ``n`` readable articles of the SaudiNewsNet archives, in date order."""
    from retrieval.ingest.loaders import load_paths

    out = []
    seen = 0
    for zip_path in sorted(need(SHARED / "saudinewsnet").glob("*.zip")):
        for item in load_paths([zip_path]):
            if item.article is None:
                continue
            seen += 1
            if seen <= skip:
                continue
            out.append(item)
            if len(out) >= n:
                return out
    return out


def shipped(candidates: int = 40) -> Any:
    """The search settings rawi ships (``config/default.toml``)."""
    from dataclasses import replace

    from bot.compose import search_params
    from config.settings import load_settings

    return replace(search_params(load_settings()), candidates=candidates)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(name: str, figures: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **figures,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=1, ensure_ascii=False))
    print(f"\n== {name}")
    for key, value in figures.items():
        print(f"  {key}: {value}")


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident and peak resident memory of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {"rss": int(fields["VmRSS"].split()[0]) / 1024,
            "peak": int(fields["VmHWM"].split()[0]) / 1024}  # fmt: skip


@dataclass
class Corpus:
    """SaudiNewsNet articles ingested for real into a fresh store."""

    data_dir: Path
    items: list[Any]
    embedder: Any
    store: Any
    searcher: Any
    ingestor: Any


def build_corpus(n_articles: int, client: Any = None, data_dir: Path | None = None) -> Corpus:
    """``n_articles`` ingested into ``client`` (default: an embedded store in a
    fresh temporary data dir), with the lexical index following."""
    from retrieval.ingest.pipeline import Ingestor
    from retrieval.model.embedder import Embedder
    from retrieval.search import Searcher
    from retrieval.store.chunks import Store
    from retrieval.store.clients import embedded_client
    from retrieval.store.lexical import LexicalIndex

    data_dir = data_dir or Path(tempfile.mkdtemp())
    items = saudinewsnet_articles(n_articles)
    embedder = Embedder(cache_dir=MODEL_CACHE)
    store = Store(client or embedded_client(data_dir / "chroma"), embedder)
    lexical = LexicalIndex(data_dir / "lexical.sqlite")
    lexical.follow(store)
    searcher = Searcher(store, embedder, lexical, shipped())
    ingestor = Ingestor(store, embedder)
    ingestor.run(items)
    return Corpus(data_dir, items, embedder, store, searcher, ingestor)


def time_queries(searcher: Any, qa: Any, qs: list[str], repeats: int) -> dict[str, Any]:
    """Search and ask latency over ``qs``, after a warm-up: the medians over
    ``repeats`` runs of each run's p50 and p95, and the p95 of every run."""
    for q in qs[:20]:
        qa.ask(q)
    runs: dict[str, list[list[float]]] = {"search": [], "ask": []}
    for _ in range(repeats):
        s, a = [], []
        for q in qs:
            t = time.perf_counter()
            searcher.search(q, 5)
            s.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            qa.ask(q)
            a.append((time.perf_counter() - t) * 1000)
        runs["search"].append(s)
        runs["ask"].append(a)
    out: dict[str, Any] = {}
    for name, xs in runs.items():
        out[f"{name}_ms_p50"] = round(median([median(r) for r in xs]), 2)
        out[f"{name}_ms_p95"] = round(median([percentile(r, 95) for r in xs]), 2)
        out[f"{name}_ms_p95_runs"] = [round(percentile(r, 95), 2) for r in xs]
    return out


def start_chroma_server(path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`chroma run` from this environment on a free loopback port, storing in
    ``path``; the caller waits for its heartbeat and terminates it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return server, port
