"""Resident memory of a process built as `rawi serve` builds its services (model,
store, lexical index, answerer), after answering questions. Run by corpus_scale
against the store it has filled: ``python -m bench.bot_memory DATA_DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import MODEL_CACHE, memory_mb


def main(data_dir: str, questions_file: str) -> None:
    from bot.compose import Parts
    from config.settings import load_settings

    settings = load_settings({"data_dir": data_dir, "cache_dir": str(MODEL_CACHE.parent)})
    parts = Parts(settings, progress=None)
    for q in json.loads(Path(questions_file).read_text()):
        parts.qa.ask(q)
    after = memory_mb()
    print(json.dumps({"rss_mb": round(after["rss"]), "peak_rss_mb": round(after["peak"]),
                      "chunks": parts.store.count_chunks()}))  # fmt: skip
    parts.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
