"""`make bench`: the benchmarks that finish in minutes, one after another."""

from __future__ import annotations

from bench import bot, follows, ingest, latency, llm, peer, query_engines


def main() -> None:
    ingest.main()
    peer.main()
    latency.main()
    query_engines.main()
    bot.main()
    follows.main()
    llm.main()


if __name__ == "__main__":
    main()
