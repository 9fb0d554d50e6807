"""`make bench-scale`: the long benchmarks. Search and answer latency and memory as
the corpus grows to 300k chunks, embedded and against a Chroma server; then the
whole SaudiNewsNet corpus through `rawi ingest`, one process and two.

`INGEST_MINUTES=M` (environment) stops each ingest phase after M minutes and
projects the totals from the measured rates; unset, the ingest runs to the end.
"""

from __future__ import annotations

import os
import sys

from bench import corpus_scale, full_ingest

if __name__ == "__main__":
    corpus_scale.main()
    minutes = os.environ.get("INGEST_MINUTES")
    sys.argv = [sys.argv[0], *(["--minutes", minutes] if minutes else [])]
    full_ingest.main()
