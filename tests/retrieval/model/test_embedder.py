"""Query embedding: the ONNX graph and the direct torch path agree with
sentence-transformers' encode, a process that only searches never loads torch, and
queries asked at once from many threads share forward passes without mixing up."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.model.embedder import Embedder
from tests.auxil.helpers import MODEL_CACHE, ROOT

QUESTIONS = [
    "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟",
    "How many Palestinians have been killed in Gaza?",
    "متى افتتح المعرض الدولي للكتاب في الرياض؟",
    "Who saved two penalties in the cup final?",
    "ما هي أسعار النفط اليوم",
    "What did the council approve for the harbour?",
    "من فاز بجائزة نوبل للفيزياء؟",
    "When does the new metro line open?",
]


def test_a_query_vector_matches_encode(embedder: Embedder) -> None:
    assert embedder.graph is not None  # the bundled model embeds queries with ONNX
    # sentence-transformers' own encode, through torch
    reference = embedder._encode(QUESTIONS, "query", None)
    direct = Embedder(cache_dir=MODEL_CACHE, onnx=False)  # torch without encode()
    for q, ref in zip(QUESTIONS, reference, strict=True):
        for v in (embedder.embed_query(q), direct.embed_query(q)):
            assert v.shape == ref.shape and abs(float(np.linalg.norm(v)) - 1) < 1e-5
            assert float(v @ ref) > 0.999
    assert embedder.embed_queries(QUESTIONS).shape == reference.shape
    # the prompts a store records, and token counts from the light tokenizer, are
    # the model's own (a store built before queries went through ONNX stays valid)
    assert embedder.prompts == direct.prompts
    assert embedder.count_tokens_many(QUESTIONS) == direct.count_tokens_many(QUESTIONS)


def in_a_fresh_process(body: str) -> str:
    """What ``body`` prints, run in a new interpreter after ``e``, the bundled
    model's embedder, is loaded and warm."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from retrieval.model.embedder import Embedder\n"
        f"e = Embedder(cache_dir=Path({str(MODEL_CACHE)!r})); e.warm()\n{body}"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout


def test_searching_needs_no_torch() -> None:
    out = in_a_fresh_process(
        "v = e.embed_query('متى تفتح المكتبة؟')\n"
        "print(v.shape[0], e.dim, e.max_tokens, 'torch' in sys.modules)\n"
    )
    assert out.split() == ["384", "384", "512", "False"]


def test_the_query_graph_leaves_the_cpu_alone_between_queries() -> None:
    # Its workers spin while a forward pass runs and must stop when it returns:
    # left spinning, they burn about 40 ms of CPU in the second after a query.
    out = in_a_fresh_process(
        "for _ in range(5): e.embed_query('متى تفتح المكتبة؟')\n"
        "t = time.process_time(); time.sleep(1.0); print(time.process_time() - t)\n"
    )
    assert float(out) < 0.005


def test_concurrent_queries_are_batched_and_each_gets_its_own_vector(embedder: Embedder) -> None:
    alone = np.stack([embedder.embed_query(q) for q in QUESTIONS])
    asked = QUESTIONS * 6
    before = len(embedder._queries.batches)
    with ThreadPoolExecutor(max_workers=24) as pool:
        vectors = list(pool.map(embedder.embed_query, asked))
    sizes = list(embedder._queries.batches)[before:]
    assert sum(sizes) == len(asked) and max(sizes) > 1  # some queries shared a pass
    for q, v in zip(asked, vectors, strict=True):
        i = QUESTIONS.index(q)
        sims = alone @ v
        assert int(np.argmax(sims)) == i and sims[i] > 0.995  # its own, not a neighbour's


def test_a_malformed_text_does_not_fail_the_queries_batched_with_it(embedder: Embedder) -> None:
    broken = "abc \ud83d"  # half of an emoji, as a broken client sends it
    asked = [broken, *QUESTIONS[:7]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        vectors = list(pool.map(embedder.embed_query, asked))
    assert all(v.shape == (embedder.dim,) and np.isfinite(v).all() for v in vectors)
    assert embedder.embed_queries([broken]).shape == (1, embedder.dim)
    assert embedder.embed_passages([broken]).shape == (1, embedder.dim)
    for q, v in zip(QUESTIONS[:7], vectors[1:], strict=True):
        assert float(embedder.embed_query(q) @ v) > 0.995  # the others got their own vectors


def test_a_failure_reaches_every_waiter_and_the_worker_carries_on() -> None:

    from retrieval.model.embedder import Coalescer

    broken = True

    def fn(texts: list[str]) -> np.ndarray:
        if broken:
            raise RuntimeError("model gone")
        return np.ones((len(texts), 3), dtype=np.float32)

    c = Coalescer(fn)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(c.submit, q) for q in QUESTIONS]
        for f in futures:
            with pytest.raises(RuntimeError, match="model gone"):
                f.result(timeout=10)
    broken = False
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(c.submit, "again").result(timeout=10).tolist() == [1.0, 1.0, 1.0]


def test_the_dimension_is_known_before_the_query_session_is_built() -> None:
    # a store checks it on opening: the session is built once, at the first query
    fresh = Embedder(cache_dir=MODEL_CACHE)
    assert fresh.dim == 384 and fresh._graph is None
    assert fresh.embed_query("متى تفتح المكتبة؟").shape == (384,)
    assert fresh.graph is not None


def test_long_questions_run_in_batches_that_keep_attention_memory_bounded(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.model.graph import ATTENTION_BUDGET

    graph = embedder.graph
    assert graph is not None
    texts = [("query: " + "كم عدد القتلى في غزة " * n) for n in (1, 2, 40, 90, 3, 60, 1, 120)] * 3
    shapes: list[tuple[int, int]] = []
    run = graph._run

    def recorded(rows: list[list[int]]) -> np.ndarray:
        shapes.append((len(rows), max(len(r) for r in rows)))
        return run(rows)

    alone = np.concatenate([graph.encode([t]) for t in texts])
    monkeypatch.setattr(graph, "_run", recorded)
    together = graph.encode(texts)
    assert all(n == 1 or n * width**2 <= ATTENTION_BUDGET for n, width in shapes), shapes
    assert len(shapes) < len(texts)  # short ones still share passes
    assert np.allclose(together, alone, atol=1e-4)  # each its own vector, however batched


PASSAGES = [
    "وصل وزير الخارجية الأمريكي إلى عمان. والتقى الملك عبد الله الثاني.",
    "The council approved the harbour plan on Monday. Work starts in May.",
    "افتتح معرض الرياض الدولي للكتاب " * 120,  # longer than the model reads: truncated
]


def test_passages_through_transformers_match_sentence_transformers(embedder: Embedder) -> None:
    """The bundled model's passages skip sentence-transformers (its import alone
    costs seconds): the same folder loaded by sentence-transformers gives the same
    vectors, sentence vectors and token count."""
    spans = [[(0, 30), (31, len(t))] for t in PASSAGES]
    direct = embedder.embed_passages_and_parts(PASSAGES, spans, [(0, len(t)) for t in PASSAGES])
    folder = embedder._bundle()
    reference = Embedder(model=str(folder), dtype=embedder.dtype)  # the generic path
    via_st = reference.embed_passages_and_parts(PASSAGES, spans, [(0, len(t)) for t in PASSAGES])
    assert 512 < direct[2] == via_st[2] < 512 + 2 * 30  # the long one was cut at 512 tokens
    assert np.min(np.sum(direct[0] * via_st[0], axis=1)) > 0.9999
    for ours, theirs in zip(direct[1], via_st[1], strict=True):
        assert ours.shape == theirs.shape == (2, 384)
        assert np.min(np.sum(ours * theirs, axis=1)) > 0.9999


def test_passage_batches_come_in_few_shapes_and_padding_changes_no_vector(
    embedder: Embedder,
) -> None:
    """The model's native memory grows with every input shape it meets; a bot embeds
    posts of any length for weeks. Batches reach it with rows a power of two and
    widths a multiple of 16, and the padding rows change no passage's vector."""
    seen: list[tuple[int, int]] = []

    def record(module: object, args: object, kwargs: dict) -> None:  # type: ignore[type-arg]
        seen.append(tuple(kwargs["input_ids"].shape))  # type: ignore[arg-type]

    texts = [f"passage {i}: " + "the council met on Monday. " * (1 + i % 9) for i in range(23)]
    hook = embedder.encoder.register_forward_pre_hook(record, with_kwargs=True)
    try:
        together = [embedder.embed_passages_and_parts(texts[:n], [[]] * n)[0] for n in (3, 7, 23)]
    finally:
        hook.remove()
    assert seen and all(rows & (rows - 1) == 0 and width % 16 == 0 for rows, width in seen), seen
    assert {rows for rows, _ in seen} - {1, 2, 4, 8, 16, 32} == set()
    assert any(rows == 4 for rows, _ in seen)  # an odd count ran padded to four rows
    alone = np.stack([embedder.embed_passages_and_parts([t], [[]])[0][0] for t in texts])
    for vectors in together:
        assert np.min(np.sum(vectors * alone[: len(vectors)], axis=1)) > 0.999


def test_passages_in_several_streams_get_the_vectors_of_one(embedder: Embedder) -> None:
    """On the CPU, batches go through the model several at once, one torch thread
    each (a few passages split among them): the vectors are those of one stream,
    and torch's thread count is as it was, for the caller and for threads started
    afterwards."""
    import threading

    import torch

    texts = [f"report {i}: " + "the port reopened on Tuesday. " * (1 + i % 5) for i in range(13)]
    spans = [[(0, 9)]] * len(texts)
    one = Embedder(cache_dir=MODEL_CACHE, streams=1)
    two = Embedder(cache_dir=MODEL_CACHE, streams=2)
    two._encoder = one.encoder  # the same weights, loaded once
    names: set[str] = set()

    def record(module: object, args: object) -> None:
        names.add(threading.current_thread().name)

    hook = one.encoder.register_forward_pre_hook(record)
    try:
        threads = torch.get_num_threads()
        a, parts_a, read_a = one.embed_passages_and_parts(texts, spans)
        assert names == {threading.current_thread().name}
        names.clear()
        b, parts_b, read_b = two.embed_passages_and_parts(texts, spans)
    finally:
        hook.remove()
    assert len(names) == 2 and all(n.startswith("rawi-embed") for n in names)  # 13 split in two
    assert read_a == read_b
    assert np.min(np.sum(a * b, axis=1)) > 0.999
    for x, y in zip(parts_a, parts_b, strict=True):
        assert np.min(np.sum(x * y, axis=1)) > 0.999
    assert torch.get_num_threads() == threads
    later: list[int] = []
    fresh = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    fresh.start()
    fresh.join()
    assert later == [threads]


def test_embedding_passages_does_not_import_sentence_transformers() -> None:
    out = in_a_fresh_process(
        "v, parts, read = e.embed_passages_and_parts(['نص قصير. وجملة ثانية.'], [[(0, 8)]])\n"
        "print(v.shape[1], read, 'sentence_transformers' in sys.modules, 'torch' in sys.modules)\n"
    )
    assert out.split()[2:] == ["False", "True"]


def test_the_device_setting_resolves_here() -> None:
    import torch

    from retrieval.model.embedder import DeviceError, resolve_device

    assert resolve_device("cpu") == "cpu"
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
        return
    assert resolve_device("auto") == "cpu"
    for setting in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve_device(setting)
    with pytest.raises(DeviceError, match="unknown embedding device"):
        resolve_device("tpu")
