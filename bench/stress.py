"""`make stress`: rawi under faults, on loopback only, bounded in time.

- kill -9 at a seeded random moment of `rawi ingest`, `reindex`, `import` and
  `restore`, each in its own process; after each, the store must open and be whole:
  every listed article has all its chunks, none twice; search returns no chunk of a
  dead revision; `resync` leaves the live counts as they were; and the data dir is
  free for the next process (no stale lock).
- a full disk (a small tmpfs, where this machine lets us mount one) during an
  ingest: exit 1 with a plain message, and what was committed is whole.

STRESS_RUNS (default 100) kill runs in all, STRESS_MINUTES (default 40) at most,
STRESS_SEED (default 7). Prints the figures and writes bench/results/stress.json.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import MODEL_CACHE, ROOT, SHARED, need, report

OPS = ("ingest", "reindex", "import", "restore")


def rawi(*args: str, data_dir: Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "RAWI_DATA_DIR": str(data_dir), "RAWI_CACHE_DIR": str(MODEL_CACHE.parent)}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def finished(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    proc = rawi(*args, data_dir=data_dir)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def whole(data_dir: Path, embedder: Any) -> list[str]:
    """What is wrong with the store in ``data_dir`` (nothing: an empty list)."""
    from retrieval.store.check import problems
    from retrieval.store.chunks import Store
    from retrieval.store.clients import embedded_client

    if not (data_dir / "chroma").exists():
        return []  # killed before the store was made
    store = Store(embedded_client(data_dir), embedder)
    try:
        return problems(store, embedder)
    finally:
        store.close()


def prepare(work: Path) -> dict[str, Path]:
    """A base store, its export and its backup, and the files to ingest."""
    base, source = work / "base", work / "source"
    source.mkdir()
    zip_path = need(SHARED / "saudinewsnet" / "2015-07-21.zip")
    (source / "articles.jsonl").write_text(_first_articles(zip_path, 120))
    for step in (
        ("ingest", str(ROOT / "config" / "sample")),
        ("export", str(work / "export.jsonl")),
        ("backup", str(work / "backup")),
    ):
        done = finished(*step, data_dir=base)
        if done.returncode != 0:
            sys.exit(f"rawi {step[0]} failed while preparing: {done.stderr[-2000:]}")
    return {"base": base, "source": source / "articles.jsonl", "export": work / "export.jsonl",
            "backup": work / "backup"}  # fmt: skip


def _first_articles(zip_path: Path, n: int) -> str:
    import json

    from retrieval.ingest.loaders import load_paths

    lines = []
    for item in load_paths([zip_path]):
        if item.article is not None:
            lines.append(json.dumps(item.article.to_record(), ensure_ascii=False))
        if len(lines) >= n:
            break
    return "\n".join(lines) + "\n"


def kill_run(op: str, files: dict[str, Path], work: Path, rng: random.Random) -> Path:
    data = work / f"run-{time.monotonic_ns()}"
    if op in ("ingest", "reindex"):
        shutil.copytree(files["base"], data)
    args = {
        "ingest": ("ingest", str(files["source"])),
        "reindex": ("reindex",),
        "import": ("import", str(files["export"])),
        "restore": ("restore", str(files["backup"])),
    }[op]
    proc = rawi(*args, data_dir=data)
    time.sleep(rng.uniform(1.0, 25.0))  # model load, reading, embedding, writing
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return data


def full_disk(embedder: Any) -> dict[str, Any]:
    mount = Path(tempfile.mkdtemp(prefix="rawi-full-"))
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          check=False, capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        return {"full_disk": f"not run: cannot mount a tmpfs here ({made.stderr.strip()})"}
    try:
        zip_path = need(SHARED / "saudinewsnet" / "2015-07-23.zip")
        done = finished("ingest", str(zip_path), data_dir=mount / "data")
        problems = whole(mount / "data", embedder)
        return {
            "full_disk_exit": done.returncode,
            "full_disk_said_plainly": "the disk under the store is full" in done.stderr,
            "full_disk_tracebacks": done.stderr.count("Traceback"),
            "full_disk_inconsistencies": len(problems),
        }
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def main() -> None:
    from retrieval.model.embedder import Embedder

    runs = int(os.environ.get("STRESS_RUNS", "100"))
    minutes = float(os.environ.get("STRESS_MINUTES", "40"))
    rng = random.Random(int(os.environ.get("STRESS_SEED", "7")))
    embedder = Embedder(cache_dir=MODEL_CACHE)
    work = Path(tempfile.mkdtemp(prefix="rawi-stress-"))
    started = time.monotonic()
    try:
        files = prepare(work)
        done: Counter[str] = Counter()
        bad: list[str] = []
        for n in range(runs):
            if time.monotonic() - started > minutes * 60:
                break
            op = OPS[n % len(OPS)]
            data = kill_run(op, files, work, rng)
            problems = whole(data, embedder)
            again = finished("info", data_dir=data)  # the lock of the killed process is gone
            if again.returncode != 0:
                problems.append(f"the data dir stayed locked: {again.stderr.strip()[-200:]}")
            bad += [f"{op}: {p}" for p in problems]
            done[op] += 1
            shutil.rmtree(data, ignore_errors=True)
            print(f"run {n + 1}: {op}: {len(problems)} problem(s)", flush=True)
        figures: dict[str, Any] = {
            "kill_runs": sum(done.values()),
            "kill_runs_by_command": dict(done),
            "inconsistencies": len(bad),
            "inconsistency_examples": bad[:10],
            **full_disk(embedder),
            "minutes": round((time.monotonic() - started) / 60, 1),
        }
        report("stress", figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
