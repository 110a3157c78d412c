"""How the code is put together: an import graph with no cycle, each heavy library in one place,
and the tables copied for a light import still equal to their sources."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import import_graph


@pytest.fixture(scope="module")
def edges():
    return import_graph.graph()


def test_the_import_graph_has_no_cycle(edges):
    assert import_graph.cycles(edges) == []
    placed = import_graph.layers(edges)
    assert all(
        placed[target] < placed[name] for name in edges for target in edges[name] if target in edges
    )


def test_a_cycle_would_be_found():
    looped = {"a": {"b"}, "b": {"c"}, "c": {"a", "numpy"}, "d": {"a"}}
    assert import_graph.cycles(looped) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize(
    "library, allowed",
    [
        ("chromadb", {"kb.store.chroma"}),  # only the store speaks to Chroma
        ("torch", {"kb.embed"}),
        ("sentence_transformers", {"kb.embed"}),
        ("onnxruntime", {"kb.embed", "kb.store.scan"}),  # the model; the summary's integer kernels
        ("onnx", {"kb.embed", "kb.store.scan"}),
        ("pypdf", {"kb.ingest"}),
        ("flask", {name for name in import_graph.modules() if name.startswith("web")}),
        ("click", {"kb.cli"}),
    ],
)
def test_each_library_is_imported_in_one_place(edges, library, allowed):
    importers = {name for name, targets in edges.items() if library in targets}
    assert importers and importers <= allowed


def test_the_library_never_imports_the_web_app(edges):
    """kb/ knows nothing of Flask; only the CLI's `kb serve` starts the app."""
    upward = {
        (name, target)
        for name, targets in edges.items()
        if name.startswith("kb") and name != "kb.cli"
        for target in targets
        if target == "web" or target.startswith("web.")
    }
    assert upward == set()


def test_the_clis_retrieval_names_are_the_searchers():
    """cli.py copies them so that `kb --help` does not import the search stack."""
    from kb import cli, search

    assert tuple(search.RETRIEVALS) == cli.RETRIEVAL_NAMES
    assert search.RETRIEVALS[cli.DEFAULT_RETRIEVAL] == search.Retrieval()
    assert cli.MAX_K == search.MAX_K


def test_the_readme_shows_the_import_graph_as_it_is(edges):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```\n0: ") + 4
    shown = " ".join(readme[start : readme.index("```", start)].split())
    placed = import_graph.layers(edges)
    drawn = " ".join(
        f"{level}: {', '.join(sorted(name for name in placed if placed[name] == level))}"
        for level in range(max(placed.values()) + 1)
    )
    assert shown == drawn, "run tools/import_graph.py and copy its layers into the README"
