"""`make bench-scale`: the long benchmarks. Search and answer latency over 3,000
SaudiNewsNet articles (ingesting them takes about twenty minutes on two cores)."""

from __future__ import annotations

from bench import latency

if __name__ == "__main__":
    latency.main(3000)
