"""Helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
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
    from retrieval.loaders import load_paths

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
