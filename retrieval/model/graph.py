"""Queries through onnxruntime: the bundled model's graph and its tokenizer.

A short query's forward pass is dominated by per-operator overhead, which torch
pays many times over on a small CPU; onnxruntime runs the same graph in a third
of the time and needs neither torch nor transformers in the process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Rows x tokens² a forward pass may hold in its attention scores: onnxruntime's
# arena keeps the largest it has needed, so a burst of long questions batched
# together would keep gigabytes. Long questions run in smaller batches instead.
ATTENTION_BUDGET = 32 * 96**2


class QueryGraph:
    """Texts (prompt included) to normalised vectors, with the graph written by
    :func:`retrieval.model.bundle.export_onnx`."""

    def __init__(self, graph: Path, tokenizer: Path, max_tokens: int = 512) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.graph = graph
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = os.cpu_count() or 1
        # A worker that sleeps between operators is woken hundreds of times per
        # forward pass, which costs a short query a sixth of its time: it spins
        # while a pass runs, and stops when the run returns, so that between
        # queries the process takes no CPU from a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3
        self.session: Any = ort.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        # too long: keep the head and the closing special token, as truncation does
        limit = self.max_tokens
        rows = [r if len(r) <= limit else [*r[: limit - 1], r[-1]] for r in rows]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # little padding
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        part: list[int] = []
        for i in order:
            width = len(rows[i])  # the longest so far: the order is by length
            if part and (len(part) == batch_size or (len(part) + 1) * width**2 > ATTENTION_BUDGET):
                out[part] = self._run([rows[j] for j in part])
                part = []
            part.append(i)
        out[part] = self._run([rows[j] for j in part])
        return out

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        vectors = np.asarray(out, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
