"""Ingestion against the plain LangChain recipe, whole processes side by side.

The peer is the retrieval tutorial's recipe (``bench/peer_recipe.py``):
RecursiveCharacterTextSplitter 1,000/200, HuggingFaceEmbeddings in fp32,
langchain-chroma, with the same bundled model folder. It runs in its own
environment, ``bench/.peer-venv`` (git-ignored, built on first use): a venv that
sees this project's packages through a ``.pth`` file, so pip adds only the
LangChain packages pinned below and never downloads torch again.

On the first ``n`` articles of one SaudiNewsNet day, each size in turn, the two
run alternately, ``rawi ingest`` into a fresh data dir and the recipe into a
fresh folder: whole-process seconds (imports, model load, split, embed, store),
the CPU seconds the process used (steadier than wall time on a shared machine),
chunks and the tokens the model read. Both are set against a roofline: the bf16
matmul rate measured here with a short torch loop, over the model's FLOPs per
token at each recipe's mean sequence length. Targets: rawi at least twice as fast
as the recipe at 1,000 articles and ahead at 100, and at least 40% of the bf16
roofline at 1,000.

``BENCH_PEER_SIZES`` (default ``100,1000``) and ``BENCH_PEER_REPEATS`` (runs of
each per size, default 3) bound it: 1,000 articles take minutes per run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.common import MODEL_CACHE, ROOT, SHARED, median, need, report

DAY = "2015-07-21"
PEER_VENV = ROOT / "bench" / ".peer-venv"
# langchain-huggingface 1.2 wants huggingface-hub < 2: the peer's venv gets its own
# (the project's constraints pin 2.x), everything else comes from the project's pins
PINS = (
    "langchain-text-splitters==1.1.3",
    "langchain-huggingface==1.2.3",
    "langchain-chroma==1.1.0",
)
UNPINNED = ("huggingface_hub",)


def peer_python() -> Path:
    """The peer environment's interpreter, built when missing or out of date."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / "rawi-peer.json"
    want = {"pins": list(PINS), "constraints": (ROOT / "constraints.txt").read_text()}
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        return python
    shutil.rmtree(PEER_VENV, ignore_errors=True)
    print("building the LangChain recipe's environment (once)", file=sys.stderr)
    subprocess.run([sys._base_executable, "-m", "venv", str(PEER_VENV)], check=True)  # type: ignore[attr-defined]
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # this project's packages (torch, sentence-transformers, chromadb) under the peer's own
    (Path(purelib) / "rawi-project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    constraints = PEER_VENV / "constraints.txt"
    constraints.write_text(
        "".join(
            line + "\n"
            for line in want["constraints"].splitlines()
            if not line.lower().replace("-", "_").startswith(UNPINNED)
        )
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(constraints), *PINS],
        check=True,
    )  # fmt: skip
    stamp.write_text(json.dumps(want))
    return python


def write_articles(n: int, path: Path) -> Path:
    """The first ``n`` readable records of the day's archive (a few have no text),
    as a JSON file both read."""
    from retrieval.ingest.loaders import LoadError, article_from_record

    with zipfile.ZipFile(need(SHARED / "saudinewsnet" / f"{DAY}.zip")) as z:
        records = json.loads(z.read(f"{DAY}.json"))
    readable = []
    for record in records:
        try:
            article_from_record(record)
        except LoadError:
            continue
        readable.append(record)
    path.write_text(json.dumps(readable[:n], ensure_ascii=False))
    return path


def bf16_gflops(seconds: float = 3.0) -> float:
    """The machine's bf16 matmul rate now, with torch's own thread count."""
    import torch

    a = torch.randn(2048, 2048, dtype=torch.bfloat16)
    b = torch.randn(2048, 2048, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        n += 1
    return 2 * 2048**3 * n / (time.perf_counter() - started) / 1e9


def flops_per_token(config: dict[str, Any], length: float) -> float:
    """Multiply-adds of one token through the encoder's matmuls (projections,
    feed-forward, and attention over a sequence of ``length`` tokens), times two."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    return layers * (2 * (4 * h * h + 2 * h * i) + 4 * length * h)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one process, and what it printed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"{cmd[:3]} failed ({proc.returncode}):\n{err.read().decode()[-2000:]}")
        return wall, usage.ru_utime + usage.ru_stime, out.read().decode()


def main() -> None:
    from retrieval.model import bundle

    sizes = [int(s) for s in os.environ.get("BENCH_PEER_SIZES", "100,1000").split(",")]
    repeats = int(os.environ.get("BENCH_PEER_REPEATS", "3"))
    model_dir = bundle.prepare(MODEL_CACHE)
    config = json.loads((model_dir / "config.json").read_text())
    peer = str(peer_python())
    env = {**os.environ, "RAWI_CACHE_DIR": str(MODEL_CACHE.parent), "HF_HUB_OFFLINE": "1"}
    work = Path(tempfile.mkdtemp(prefix="rawi-peer-"))
    gflops = [bf16_gflops()]
    figures: dict[str, Any] = {}
    try:
        for n in sizes:
            articles = write_articles(n, work / f"articles-{n}.json")
            counted = json.loads(
                timed(
                    [peer, "bench/peer_recipe.py", str(articles), str(model_dir), "--count"], env
                )[2]
            )
            runs: dict[str, list[tuple[float, float]]] = {"rawi": [], "langchain": []}
            rawi_report: dict[str, Any] = {}
            for rep in range(repeats):
                order = ("rawi", "langchain") if rep % 2 == 0 else ("langchain", "rawi")
                for name in order:
                    out = work / f"{name}-{n}-{rep}"
                    if name == "rawi":
                        cmd = [sys.executable, "-m", "bot.cli", "--data-dir", str(out),
                               "ingest", str(articles), "--json"]  # fmt: skip
                    else:
                        cmd = [
                            peer,
                            "bench/peer_recipe.py",
                            str(articles),
                            str(model_dir),
                            str(out),
                        ]
                    wall, cpu, printed = timed(cmd, env)
                    runs[name].append((wall, cpu))
                    if name == "rawi":
                        rawi_report = json.loads(printed)
                        assert len(rawi_report["added"]) == n, rawi_report["failed"]
                    else:
                        assert json.loads(printed)["chunks"] == counted["chunks"]
                    shutil.rmtree(out, ignore_errors=True)
                    print(f"{n} articles, {name}: {wall:.1f} s ({cpu:.1f} CPU s)", file=sys.stderr)
            gflops.append(bf16_gflops())
            made = {
                "rawi": (rawi_report["chunks"], rawi_report["tokens"]),
                "langchain": (counted["chunks"], counted["tokens"]),
            }
            row: dict[str, Any] = {}
            for name, (chunks, tokens) in made.items():
                wall = median([w for w, _ in runs[name]])
                roofline = max(gflops) * 1e9 / flops_per_token(config, tokens / chunks)
                row[name] = {
                    "seconds_median": round(wall, 1),
                    "seconds": [round(w, 1) for w, _ in runs[name]],
                    "cpu_seconds_median": round(median([c for _, c in runs[name]]), 1),
                    "chunks": chunks,
                    "tokens": tokens,
                    "tokens_per_s": round(tokens / wall),
                    "roofline_tokens_per_s": round(roofline),
                    "of_roofline": round(tokens / wall / roofline, 3),
                }
            row["rawi_speedup"] = round(
                row["langchain"]["seconds_median"] / row["rawi"]["seconds_median"], 2
            )
            row["rawi_speedup_cpu"] = round(
                row["langchain"]["cpu_seconds_median"] / row["rawi"]["cpu_seconds_median"], 2
            )
            figures[f"articles_{n}"] = row
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(
        "peer-ingest",
        {
            "day": DAY,
            "repeats": repeats,
            "bf16_matmul_gflops": [round(g) for g in gflops],
            "model_mflop_per_token_at_128": round(flops_per_token(config, 128) / 1e6, 1),
            **figures,
            "target_speedup_1000": 2.0,
            "target_of_roofline_1000": 0.40,
        },
    )


if __name__ == "__main__":
    main()
