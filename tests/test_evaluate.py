import json

from click.testing import CliRunner

from kb.cli import cli
import pytest

from kb import evaluate
from kb.evaluate import below, load_thresholds, rank_of
from kb.search import Hit


def hit(text, document="a.pdf", page=1, agency="Agency"):
    return Hit("id", text, agency, document, "Title", "Section", page, 0.5)


def test_rank_of_matches_gold_phrases_ignoring_case_and_spacing_and_checks_the_document():
    hits = [hit("Nothing here"), hit("The  Escalation Policy is\nregularly used", "b.pdf"), hit("The escalation policy is regularly used")]
    assert rank_of({"query": "q", "gold": ["escalation policy is regularly used"]}, hits) == 2
    assert rank_of({"query": "q", "gold": ["escalation policy is regularly used"], "doc": "a.pdf"}, hits) == 3
    assert rank_of({"query": "q", "gold": ["not present"]}, hits) is None


def test_agency_and_page_narrow_what_counts_as_a_hit():
    hits = [hit("the clinic runs weekly", agency="Community Health", page=3), hit("the clinic runs weekly", agency="Bedfordshire Hospitals Trust", page=5)]
    gold = {"query": "q", "gold": ["clinic runs weekly"]}
    assert rank_of(gold, hits) == 1
    assert rank_of({**gold, "agency": "Bedfordshire Hospitals"}, hits) == 2  # part of the name, any case
    assert rank_of({**gold, "page": 5}, hits) == 2
    assert rank_of({**gold, "page": 5}, hits[:1]) is None
    assert rank_of({**gold, "page": 5}, hits[:1], pages=False) == 1


def test_thresholds_come_from_the_project_configuration(tmp_path):
    project = tmp_path / "pyproject.toml"
    project.write_text("[tool.kb.eval]\nmin_hit_at_5 = 0.9\nmin_mrr_at_10 = 0.5\n", encoding="utf-8")
    thresholds = load_thresholds(project)
    assert thresholds == {"min_hit_at_5": 0.9, "min_mrr_at_10": 0.5}
    assert below({"hit@5": 0.8, "mrr@10": 0.6}, thresholds) == ["hit@5 0.8 < 0.9"]
    assert below({"hit@5": 0.95, "mrr@10": 0.6}, thresholds) == []
    project.write_text("[tool.kb.eval]\nmin_hit_at_50 = 0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown .tool.kb.eval. keys .'min_hit_at_50'.; known:"):
        load_thresholds(project)
    assert load_thresholds(tmp_path / "absent.toml") == {}


def test_the_project_sets_thresholds_for_every_figure():
    assert set(load_thresholds()) == set(evaluate.THRESHOLDS)


def test_kb_eval_reports_figures_and_misses(index, tmp_path):
    golden = tmp_path / "golden.jsonl"
    rows = [
        {"id": "x1", "query": "Use the escalation policy when agencies disagree", "gold": ["escalation policy when agencies disagree"], "doc": "notes.md", "page": 1},
        {"id": "x2", "query": "zebra crossings", "gold": ["a phrase in no report at all"]},
    ]
    golden.write_text("\n".join(json.dumps(row) for row in rows))
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "queries": 2, "hit@1": 0.5, "hit@5": 0.5, "mrr@10": 0.5, "page_accuracy": 1.0, "below_thresholds": []
    }
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden)])
    assert "miss x2 (not in the top k): 'zebra crossings'" in result.stdout and "first instead:" in result.stdout

    # Held to the project's thresholds, half the queries is not enough: exit 1, saying why.
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--check"])
    assert result.exit_code == 1
    assert "below the thresholds in pyproject.toml [tool.kb.eval]: " in result.stderr
    assert "hit@5 0.5 < " in result.stderr


def test_kb_eval_compare_prints_one_row_per_retrieval(index, tmp_path):
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps({"id": "x1", "query": "escalation policy", "gold": ["escalation policy when agencies disagree"]}))
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--compare"])
    assert result.exit_code == 0, result.output
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines()[2:]]
    assert rows == ["bm25", "dense", "hybrid", "hybrid+vocabulary", "hybrid+vocabulary+agency", "rrf"]
