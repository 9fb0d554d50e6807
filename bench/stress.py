"""`make stress`: rawi under faults, on loopback only, bounded in time.

- kill -9 at a seeded random moment of `rawi ingest`, `reindex`, `import` and
  `restore`, each in its own process; after each, the store must open and be whole:
  every listed article has all its chunks, none twice; search returns no chunk of a
  dead revision; `resync` leaves the live counts as they were; and the data dir is
  free for the next process (no stale lock).
- a full disk (a small tmpfs, where this machine lets us mount one) during an
  ingest: exit 1 with a plain message, and what was committed is whole.
- hostile updates (tests/auxil/updates.py) to `rawi serve` over the fake Bot API:
  after 1,000 to warm up, STRESS_UPDATES (default 10,000) more; every private
  message must be answered, no reader told "something went wrong", no traceback
  logged, and the bot's resident memory after within 20% of before.

STRESS_RUNS (default 100) kill runs in all, STRESS_MINUTES (default 40) at most for
them, STRESS_SEED (default 7). Prints the figures and writes
bench/results/stress.json.
"""

from __future__ import annotations

import os
import random
import re
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no resident memory for process {pid}")


async def _hostile_updates(data: Path, count: int, seed: int) -> dict[str, Any]:
    import asyncio

    from bot.telegram.texts import TEXTS
    from tests.auxil.fakebotapi import FakeBotAPI
    from tests.auxil.updates import ADMIN_ID, draw, expects_reply, private_chat

    replies = ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")
    api = FakeBotAPI()
    await api.start()
    env = {
        **os.environ,
        "RAWI_DATA_DIR": str(data),
        "RAWI_CACHE_DIR": str(MODEL_CACHE.parent),
        "TELEGRAM_BOT_TOKEN": "123456:STRESS-token",
        "RAWI_TELEGRAM__API_URL": api.base_url,
        "RAWI_TELEGRAM__ADMIN_IDS": str(ADMIN_ID),
        "RAWI_TELEGRAM__CHANNELS": "newsroom",
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert bot.stderr is not None
    log = asyncio.create_task(bot.stderr.read())

    async def through(updates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
        started = time.monotonic()
        for one in updates:
            api.push(one)
        waiting = [u for u in updates if expects_reply(u)]
        seen, changed = 0, time.monotonic()
        # done: every private message answered and 10 s without a call; or stuck:
        # 5 minutes without a call while some still wait
        while time.monotonic() - changed < (300 if waiting else 10):
            await asyncio.sleep(1)
            if len(api.calls) != seen:
                seen, changed = len(api.calls), time.monotonic()
            replied = {int(c.params.get("chat_id", 0)) for c in api.calls if c.method in replies}
            waiting = [u for u in waiting if private_chat(u) not in replied]
        return waiting, changed - started

    try:
        await api.wait_for("deleteWebhook", within=300)  # polling has started
        warm_up = draw(1000, seed=seed + 1)
        missed_warm, _ = await through(warm_up)
        before = rss_mb(bot.pid)
        updates, missed, seconds, rss = [], [], 0.0, []
        for n in range(0, count, 1000):  # in blocks, to see whether memory settles
            block = draw(min(1000, count - n), seed + 2 + n)
            block_missed, block_seconds = await through(block)
            updates += block
            missed += block_missed
            seconds += block_seconds
            rss.append(round(rss_mb(bot.pid)))
            print(f"{len(updates)} hostile updates: {rss[-1]} MB resident", flush=True)
        after = rss[-1]
    finally:
        if bot.returncode is None:
            bot.terminate()
        await asyncio.wait_for(bot.wait(), 60)
        stderr = (await log).decode(errors="replace")
        (data / "serve.log").write_text(stderr)  # beside the data, for a closer look
        await api.stop()
    generic = set(TEXTS["error"].values())
    private = sum(map(expects_reply, updates))
    return {
        "updates": len(updates),
        "updates_per_s": round(len(updates) / seconds, 1),
        "private_messages": private,
        "private_unanswered": len(missed) + len(missed_warm),
        "told_something_went_wrong": sum(c.params.get("text") in generic for c in api.calls),
        "tracebacks_logged": stderr.count("Traceback"),
        "errors_logged": dict(
            Counter(
                re.findall(r"^((?:\w+\.)*[A-Z]\w*: .{0,120})", stderr, re.MULTILINE)
            ).most_common(10)
        ),
        "rss_mb_each_1000": rss,
        "rss_mb_before": round(before),
        "rss_mb_after": round(after),
        "rss_growth": f"{(after - before) / before:+.1%}",
    }


def hostile_updates(files: dict[str, Path], work: Path, count: int, seed: int) -> dict[str, Any]:
    import asyncio

    data = work / "serving"
    shutil.copytree(files["base"], data)
    return asyncio.run(_hostile_updates(data, count, seed))


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
            **hostile_updates(
                files,
                work,
                int(os.environ.get("STRESS_UPDATES", "10000")),
                int(os.environ.get("STRESS_SEED", "7")),
            ),
            "minutes": round((time.monotonic() - started) / 60, 1),
        }
        report("stress", figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
