"""`make bench-scale`: the long benchmarks. Search and answer latency and memory as
the corpus grows to 300k chunks, embedded and against a Chroma server."""

from __future__ import annotations

from bench import corpus_scale

if __name__ == "__main__":
    corpus_scale.main()
