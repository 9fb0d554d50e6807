"""Sentence-transformers embedder: the bundled multilingual-e5-small by default.

The model loads lazily, once, on first use: building an :class:`Embedder` is cheap.
For the bundled model, queries go through its ONNX graph
(:mod:`retrieval.model.graph`), so a process that only searches never loads torch;
passages, embedded in large batches where torch's bf16 is faster, load torch on
first use, straight through transformers (sentence-transformers' import alone
costs seconds a short ingest run would feel), tokenized once by the folder's own
tokenizer, which also counts tokens for chunking.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from retrieval.model import bundle
from retrieval.text import well_formed

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from retrieval.model.graph import QueryGraph

log = logging.getLogger(__name__)
# oneDNN keeps what it builds for each input shape it meets: in a bot that embeds
# admins' posts and feeds' items for weeks, every new shape would add to its
# memory. Widths are padded to a multiple of WIDTH_STEP (400 odd-length batches:
# 1.7 GB unpadded, 1.1 GB padded), and a batch's rows to a power of two (300
# batches of 1-32 passages: still growing at 1.36 GB with any row count, flat at
# 1.04 GB after the first 30 with powers of two). A full batch, as a big ingest
# runs, is not padded; only the last of a run is.
WIDTH_STEP = 16
# On the CPU, passages go through the model two batches at once, each on half of
# torch's threads: a single batch on every core leaves them idle between its
# operations (one batch on two threads kept 1.7 of two cores busy). The threads
# torch starts with are the process's, so these runs take turns.
_STREAMS = threading.Lock()
_T = TypeVar("_T")


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class DeviceError(ValueError):
    """The embedding device asked for is not there."""


def resolve_device(setting: str) -> str:
    """The torch device for passages: ``auto`` is CUDA where torch finds it, else
    the CPU; ``cuda`` or ``cuda:N`` must exist. Imports torch."""
    import torch

    if setting == "cpu":
        return "cpu"
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting != "cuda" and not setting.startswith("cuda:"):
        raise DeviceError(f"unknown embedding device {setting!r} (auto, cpu, cuda or cuda:N)")
    index = setting.partition(":")[2]
    if not torch.cuda.is_available():
        raise DeviceError(
            f"the embedding device is {setting!r}, but torch finds no CUDA device here "
            f"(torch {torch.__version__}); set it to auto or cpu"
        )
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise DeviceError(
            f"the embedding device is {setting!r}, but torch finds "
            f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 is the first)"
        )
    return setting


def resolve_dtype(setting: str) -> str:
    if setting == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    if setting not in ("bf16", "fp32"):
        raise ValueError(f"unknown embedding dtype {setting!r} (auto, bf16 or fp32)")
    return setting


class Embedder:
    """Embeds passages and queries with the model's own prompts."""

    def __init__(
        self,
        model: str = bundle.BUNDLED_NAME,
        dtype: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int = 32,
        progress: Callable[[str], None] | None = None,
        *,
        device: str = "auto",
        onnx: bool = True,
        streams: int | None = None,
    ) -> None:
        """``onnx`` False embeds queries with torch too (for comparison). ``device``
        is resolved when torch is first needed (see :func:`resolve_device`).
        ``streams``: batches of passages through the model at once on the CPU, each
        on its share of torch's threads (default two; one where torch has one)."""
        self.model_name = model
        self.dtype = resolve_dtype(dtype)
        self._dtype_setting = dtype
        self.device_setting = device
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.streams = streams or 2
        self._progress = progress
        self._model: SentenceTransformer | None = None
        self._encoder: Any = None  # the bundled model's transformer, for passages
        self._folder: Path | None = None
        self._bundled = model == bundle.BUNDLED_NAME
        self._use_graph = onnx and self._bundled
        self._graph: QueryGraph | None = None
        self._lock = threading.RLock()
        self._queries = Coalescer(self._embed_query_batch)

    # -- identity recorded with the store ---------------------------------
    @property
    def model_id(self) -> str:
        return self.model_name

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _bundle(self, force: bool = False) -> Path:
        """The prepared folder of the bundled model (built on first use)."""
        with self._lock:
            if self._folder is None or force:
                if self.cache_dir is None:
                    raise ValueError("the bundled model needs a cache directory")
                self._folder = bundle.prepare(self.cache_dir, progress=self._progress, force=force)
            return self._folder

    @property
    def graph(self) -> QueryGraph | None:
        """The ONNX encoder for queries, or None where queries go through torch."""
        if self._use_graph and self._graph is None:
            with self._lock:
                if self._graph is None:
                    from retrieval.model.graph import QueryGraph

                    self._graph = self._from_bundle(
                        lambda folder: QueryGraph(
                            folder / bundle.ONNX_FILE, folder / "tokenizer.json"
                        )
                    )
        return self._graph

    def _from_bundle(self, load: Callable[[Path], _T]) -> _T:
        """``load`` applied to the bundled model's folder; a folder damaged in a way
        the size check missed is rebuilt once."""
        folder = self._bundle()
        try:
            return load(folder)
        except Exception:
            log.warning("the prepared model in %s does not load; rebuilding", folder)
            return load(self._bundle(force=True))

    def warm(self) -> None:
        """Load what answering queries needs, before the first reader waits for it."""
        self.embed_queries(["warm"])

    @functools.cached_property
    def device(self) -> str:
        """The torch device passages are embedded on."""
        return resolve_device(self.device_setting)

    def _torch_dtype(self) -> Any:
        # Spin-waiting OpenMP threads starve other processes on small machines.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        import transformers

        transformers.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()
        if self.device != "cpu" and self._dtype_setting == "auto":
            self.dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return torch.bfloat16 if self.dtype == "bf16" else torch.float32

    def _load(self) -> SentenceTransformer:
        dtype = self._torch_dtype()
        from sentence_transformers import SentenceTransformer

        kwargs: dict[str, Any] = {"dtype": dtype}
        if self._bundled:
            model = self._from_bundle(
                lambda path: SentenceTransformer(
                    str(path), device=self.device, local_files_only=True, model_kwargs=kwargs
                )
            )
        else:
            model = SentenceTransformer(self.model_name, device=self.device, model_kwargs=kwargs)
        model.eval()
        return model

    @property
    def encoder(self) -> Any:
        """The bundled model's transformer (no pooling: passages pool their own
        spans), loaded with transformers alone."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    dtype = self._torch_dtype()
                    from transformers import AutoModel

                    self._encoder = self._from_bundle(
                        lambda path: AutoModel.from_pretrained(
                            str(path), dtype=dtype, local_files_only=True
                        )
                    )
                    self._encoder.to(self.device).eval()
        return self._encoder

    @functools.cached_property
    def tokenizer(self) -> Any:
        """The bundled model's tokenizer (``tokenizers``; no truncation, no padding)."""
        from tokenizers import Tokenizer

        tokenizer = self._from_bundle(
            lambda path: Tokenizer.from_file(str(path / "tokenizer.json"))
        )
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @property
    def dim(self) -> int:
        if self._use_graph:  # the folder's own, read without building the query session
            config = json.loads((self._bundle() / "config.json").read_text())
            return int(config["hidden_size"])
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"{self.model_name} does not report its embedding dimension")
        return int(dim)

    @property
    def prompts(self) -> dict[str, str]:
        if self._use_graph:  # the folder's own, read without loading torch
            config = self._bundle() / "config_sentence_transformers.json"
            prompts = json.loads(config.read_text()).get("prompts")
        else:
            prompts = self.model.prompts
        return {k: v for k, v in (prompts or {}).items() if v is not None}

    def _prompt_name(self, kind: str) -> str | None:
        return kind if kind in self.prompts else None

    def count_tokens(self, text: str) -> int:
        return self.count_tokens_many([text])[0]

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._bundled:
            return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]
        enc = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

    @property
    def max_tokens(self) -> int:
        if self._bundled:
            return bundle.MAX_TOKENS
        return int(self.model.max_seq_length or 512)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode(list(texts), "passage", batch_size)

    def embed_passages_and_parts(
        self,
        texts: Sequence[str],
        parts: Sequence[Sequence[tuple[int, int]]],
        passages: Sequence[tuple[int, int]] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray], int]:
        """Passage vectors, and for each passage one vector per character span in
        ``parts`` (its sentences), from the same forward pass: the mean of the
        contextual token vectors inside the span. Costs no extra model time. Also
        the number of tokens the model read.

        ``passages``, when given, is the span of each text that is the passage
        proper: its vector is then pooled from the tokens inside it alone, and the
        rest of the text (a title) is context that every token has seen.

        Spans are pooled only for a model whose vector is the mean of its token
        vectors (e5 and most sentence-transformers models); for another (a
        projection after pooling, CLS pooling) a passage keeps the model's own
        vector and each of its sentences gets that vector too."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), [], 0
        prompt = self.prompts.get("passage", "")
        if self._bundled:
            tokens, offsets = self._token_vectors([prompt + t for t in texts])
            pooled = np.stack([t.mean(axis=0) for t in tokens])
        else:
            tokens, offsets, pooled = self._encoded(texts, prompt)
        read = sum(len(t) for t in tokens)
        if not self._mean_pooled:
            vectors = _normalised(pooled)
            return (
                vectors,
                [
                    np.repeat(v[None, :], len(s), axis=0)
                    for v, s in zip(vectors, parts, strict=True)
                ],
                read,
            )
        vectors = np.empty_like(pooled)
        part_vectors: list[np.ndarray] = []
        for i, spans in enumerate(parts):
            shifted = offsets[i] - len(prompt)
            vectors[i] = (
                pooled[i]
                if passages is None
                else _mean_inside(tokens[i], shifted, passages[i], pooled[i])
            )
            rows = [_mean_inside(tokens[i], shifted, span, vectors[i]) for span in spans]
            part_vectors.append(
                _normalised(np.asarray(rows, dtype=np.float32).reshape(-1, vectors.shape[1]))
            )
        return _normalised(vectors), part_vectors, read

    def _token_vectors(self, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each text's contextual token vectors (float32) and their character
        offsets, through the bundled model: one tokenization, batches of similar
        lengths (little padding), a text too long keeping its head and closing token."""
        import torch

        limit = self.max_tokens
        encodings = self.tokenizer.encode_batch(texts)
        rows = [_head_and_tail(e.ids, limit) for e in encodings]
        offsets = [
            np.asarray(_head_and_tail(e.offsets, limit), dtype=np.int64).reshape(-1, 2)
            for e in encodings
        ]
        tokens: list[np.ndarray] = [np.empty(0)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(rows[i]))
        model = self.encoder
        threads = torch.get_num_threads()
        streams = min(self.streams, threads) if self.device == "cpu" else 1
        # a few passages are split so that every stream has some
        size = max(1, min(self.batch_size, -(-len(order) // streams)))
        batches = [order[start : start + size] for start in range(0, len(order), size)]

        def forward(batch: list[int]) -> np.ndarray:
            width = -(-len(rows[batch[-1]]) // WIDTH_STEP) * WIDTH_STEP
            height = min(1 << (len(batch) - 1).bit_length(), self.batch_size)
            ids = torch.zeros((height, width), dtype=torch.long)
            mask = torch.zeros((height, width), dtype=torch.long)
            mask[len(batch) :, 0] = 1  # padding rows: one token each, read and dropped
            for j, i in enumerate(batch):
                ids[j, : len(rows[i])] = torch.tensor(rows[i])
                mask[j, : len(rows[i])] = 1
            with torch.inference_mode():
                out = model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
            return np.asarray(out.last_hidden_state.float().cpu().numpy())

        if streams > 1 and len(batches) > 1:
            with (
                _STREAMS,
                ThreadPoolExecutor(
                    streams,
                    "rawi-embed",
                    initializer=torch.set_num_threads,
                    initargs=(threads // streams,),
                ) as pool,
            ):
                try:
                    states = list(pool.map(forward, batches))
                finally:
                    torch.set_num_threads(threads)  # threads started from now on take it
        else:
            states = [forward(batch) for batch in batches]
        for batch, state in zip(batches, states, strict=True):
            for j, i in enumerate(batch):
                tokens[i] = state[j, : len(rows[i])]
        return tokens, offsets

    def _encoded(
        self, texts: Sequence[str], prompt: str
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Token vectors, their offsets and the model's own pooled vectors, through
        sentence-transformers (any model it loads)."""
        outs: Any = self.model.encode(
            list(texts),
            prompt_name=self._prompt_name("passage"),
            batch_size=self.batch_size,
            show_progress_bar=False,
            output_value=None,
        )
        enc = self.model.tokenizer(
            [prompt + t for t in texts],
            return_offsets_mapping=True,
            truncation=True,
            max_length=self.max_tokens,
        )
        offsets = [np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in enc["offset_mapping"]]
        # a text's token vectors may come padded to its batch's longest
        tokens = [
            o["token_embeddings"][: len(offs)].float().cpu().numpy()
            for o, offs in zip(outs, offsets, strict=True)
        ]
        pooled = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outs])
        return tokens, offsets, pooled

    @functools.cached_property
    def _mean_pooled(self) -> bool:
        """Whether a passage's vector is the (normalised) mean of its token vectors."""
        if self._bundled:  # e5: mean pooling, then normalisation
            return True
        modules = list(self.model)
        kinds = [type(m).__name__ for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
            return False
        pooling = modules[1]
        mode = getattr(pooling, "pooling_mode", None)
        return mode == "mean" or getattr(pooling, "pooling_mode_mean_tokens", False) is True

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self.graph is not None:
            return self._embed_query_batch(list(texts))
        return self._encode(list(texts), "query", None)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector. Queries asked at once from several threads (a bot
        answering many readers) share one forward pass, which costs little more
        than a single query's."""
        return self._queries.submit(text)

    def _embed_query_batch(self, texts: list[str]) -> np.ndarray:
        """Queries straight through the model: ``encode``'s per-call bookkeeping
        (sorting, device checks over every parameter) costs more than a short
        query's forward pass."""
        # one reader's malformed text must not fail the others batched with it
        texts = [well_formed(t) for t in texts]
        if self.graph is not None:
            prompt = self.prompts.get("query", "")
            return self.graph.encode([prompt + text for text in texts])
        import torch

        model = self.model
        with torch.inference_mode():
            features = model.preprocess(texts, prompt=self.prompts.get("query"))
            features = {
                k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()
            }
            out = model(features)["sentence_embedding"].cpu()
        return _normalised(out.float().numpy())

    def _encode(self, texts: list[str], kind: str, batch_size: int | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [well_formed(t) for t in texts]
        out = self.model.encode(
            texts,
            prompt_name=self._prompt_name(kind),
            batch_size=batch_size or self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        # Normalise in fp32: a bf16 model's own normalisation is off by ~1e-3.
        return _normalised(np.asarray(out, dtype=np.float32))


class Coalescer:
    """Runs ``fn`` over batches of the items submitted from any thread: one worker
    takes whatever has queued up while it was busy (up to ``max_batch``), so a lone
    item goes through at once and a crowd shares the work."""

    def __init__(self, fn: Callable[[list[str]], np.ndarray], max_batch: int = 32) -> None:
        self._fn = fn
        self._max = max_batch
        self._queue: queue.SimpleQueue[tuple[str, Future[np.ndarray]]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start = threading.Lock()
        self.batches: deque[int] = deque(maxlen=1000)  # recent batch sizes, for benchmarks

    def submit(self, item: str) -> np.ndarray:
        return self.submit_future(item).result()

    def submit_future(self, item: str) -> Future[np.ndarray]:
        """``item``'s result, to be waited for while the caller does other work."""
        future: Future[np.ndarray] = Future()
        self._queue.put((item, future))
        if self._worker is None:
            with self._start:
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._run, name="query-embedder", daemon=True
                    )
                    self._worker.start()
        return future

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batches.append(len(batch))
            try:
                vectors = self._fn([item for item, _ in batch])
            except BaseException as exc:  # every waiter gets the failure
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)


def _head_and_tail(items: list[_T], limit: int) -> list[_T]:
    """``items`` cut to ``limit``, keeping the last (a closing special token), as
    a tokenizer's truncation does."""
    return items if len(items) <= limit else [*items[: limit - 1], items[-1]]


def _mean_inside(
    tokens: np.ndarray, offsets: np.ndarray, span: tuple[int, int], fallback: np.ndarray
) -> np.ndarray:
    """The mean of the token vectors whose characters fall inside ``span``
    (``fallback`` when none does, as for a span cut off by truncation)."""
    a, b = span
    inside = (offsets[:, 1] > a) & (offsets[:, 0] < b) & (offsets[:, 1] > offsets[:, 0])
    inside = inside[: len(tokens)]
    return tokens[: len(inside)][inside].mean(axis=0) if inside.any() else fallback


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
