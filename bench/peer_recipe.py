"""The plain LangChain recipe, as its retrieval tutorial writes it: run by
``bench/peer.py`` in its own environment (``bench/.peer-venv``), never by rawi.

RecursiveCharacterTextSplitter (1,000 characters, 200 overlap), HuggingFaceEmbeddings
(sentence-transformers, fp32, its defaults) and langchain-chroma persisting to a
folder. Usage: ``python bench/peer_recipe.py ARTICLES.json MODEL_DIR STORE_DIR``
ingests and prints ``{"chunks": n}``; with ``--count`` it only splits and prints
the chunks and the tokens the model reads (not part of a timed run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def documents(path: str) -> list:
    from langchain_core.documents import Document

    records = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        Document(
            page_content=f"{r['title']}\n\n{r['content']}",
            metadata={"source": r["source"], "url": r["url"], "date": r["date_extracted"]},
        )
        for r in records
    ]


def split(path: str) -> list:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    )
    return splitter.split_documents(documents(path))


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--count"]
    articles, model_dir = args[0], args[1]
    splits = split(articles)
    if "--count" in sys.argv:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        ids = tokenizer([d.page_content for d in splits], truncation=True, max_length=512)
        tokens = sum(len(x) for x in ids["input_ids"])
        print(json.dumps({"chunks": len(splits), "tokens": tokens}))
        return
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(model_name=model_dir)
    store = Chroma(
        collection_name="articles", embedding_function=embeddings, persist_directory=args[2]
    )
    store.add_documents(splits)
    print(json.dumps({"chunks": len(splits)}))


if __name__ == "__main__":
    main()
