"""Where the time goes: pyinstrument profiles of searching and of reindexing, as text trees.

    .venv/bin/pip install pyinstrument          # once; the bench extra: pip install -e '.[bench]'
    .venv/bin/python bench/where_time_goes.py search    # the golden queries, ranked anew, on index/
    .venv/bin/python bench/where_time_goes.py reindex   # a reindex from scratch of corpus/ into a
                                                        # temporary folder

Prints the call tree with the share of time in each frame, hiding frames under 2 %.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from pyinstrument import Profiler

from kb.embed import load_embedder, token_counter
from kb.evaluate import GOLDEN, load_queries
from kb.reindex import reindex
from kb.search import open_searcher
from kb.settings import Settings


def profile_search(settings: Settings, rounds: int) -> Profiler:
    searcher = open_searcher(replace(settings, answer_cache=0))  # each query ranked anew
    queries = [query["query"] for query in load_queries(GOLDEN)]
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(rounds):
            for query in queries:
                searcher.search(query)
    return profiler


def profile_reindex(settings: Settings) -> Profiler:
    profiler = Profiler(interval=0.001)
    with tempfile.TemporaryDirectory() as scratch, profiler:
        scratch_settings = Settings.from_env(
            corpus_dir=settings.corpus_dir, index_dir=Path(scratch)
        )
        reindex(
            scratch_settings,
            lambda: load_embedder(settings.model, settings.embedder, settings.model_cache),
            token_counter(),
        )
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("search", "reindex"))
    parser.add_argument(
        "--rounds", type=int, default=3, help="passes over the golden queries (search)"
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    profiler = (
        profile_search(settings, args.rounds)
        if args.what == "search"
        else profile_reindex(settings)
    )
    print(profiler.output_text(unicode=True, color=False, show_all=False, time="percent_of_total"))


if __name__ == "__main__":
    main()
