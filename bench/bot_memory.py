"""Resident memory of a process built as `rawi serve` builds its services (model,
store, lexical index, answerer), after answering questions. Run by corpus_scale
against the store it has filled: ``python -m bench.bot_memory DATA_DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import MODEL_CACHE


def status() -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def main(data_dir: str, questions_file: str) -> None:
    from bot.compose import build_embedder, build_qa, build_searcher, open_store
    from config.settings import load_settings

    settings = load_settings({"data_dir": data_dir, "cache_dir": str(MODEL_CACHE.parent)})
    embedder = build_embedder(settings, progress=None)
    store = open_store(settings, embedder)
    searcher = build_searcher(settings, store, embedder)
    qa = build_qa(settings, searcher, embedder)
    for q in json.loads(Path(questions_file).read_text()):
        qa.ask(q)
    after = status()
    print(json.dumps({"rss_mb": round(after["VmRSS"]), "peak_rss_mb": round(after["VmHWM"]),
                      "chunks": store.count_chunks()}))  # fmt: skip
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
