"""Embedding through onnxruntime: the bundled model's graph and its tokenizer.

A short query's forward pass is dominated by per-operator overhead, which torch
pays many times over on a small CPU; onnxruntime runs the same graph in a third
of the time and needs neither torch nor transformers in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class OnnxEncoder:
    """Texts (prompt included) to normalised vectors, with the graph written by
    :func:`retrieval.e5bundle.export_onnx`."""

    def __init__(
        self, graph: Path, tokenizer: Path, max_tokens: int = 512, *, spin: bool = True
    ) -> None:
        from tokenizers import Tokenizer

        self.graph = graph
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.spin = spin
        self._swap = threading.Condition()
        self._running = 0
        self.session: Any = self._session(spin)
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _session(self, spin: bool) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = os.cpu_count() or 1
        # A worker that sleeps between operators is woken hundreds of times per
        # forward pass, which costs a short query a sixth of its time; spinning,
        # it holds its core while the pass runs, which starves work done alongside
        # it (see ``set_spinning``). Either way it stops when a run returns: between
        # queries it must not take a small machine's CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])

    def set_spinning(self, spin: bool) -> None:
        """Whether the workers spin while a forward pass runs: faster when nothing
        else needs the cores meanwhile, slower when something does. Changing it
        builds a new session (about half a second), once the runs under way have
        ended and the old one is released: two at once would double the graph's
        memory. Runs asked for meanwhile wait."""
        with self._swap:
            if spin == self.spin:
                return
            self._swap.wait_for(lambda: self._running == 0)
            self.session = None
            self.session = self._session(spin)
            self.spin = spin

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        # too long: keep the head and the closing special token, as truncation does
        limit = self.max_tokens
        rows = [r if len(r) <= limit else [*r[: limit - 1], r[-1]] for r in rows]
        if len(rows) <= batch_size:
            return self._run(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # little padding
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        for i in range(0, len(order), batch_size):
            part = order[i : i + batch_size]
            out[part] = self._run([rows[j] for j in part])
        return out

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        with self._swap:
            self._running += 1
            session = self.session
        try:
            (out,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        finally:
            with self._swap:
                self._running -= 1
                self._swap.notify_all()
        vectors = np.asarray(out, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
