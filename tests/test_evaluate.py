import json

from click.testing import CliRunner

from kb.cli import cli
from kb.evaluate import rank_of
from kb.search import Hit


def hit(text, document="a.pdf", page=1):
    return Hit("id", text, "Agency", document, "Title", "Section", page, 0.5)


def test_rank_of_matches_gold_phrases_ignoring_case_and_spacing_and_checks_the_document():
    hits = [hit("Nothing here"), hit("The  Escalation Policy is\nregularly used", "b.pdf"), hit("The escalation policy is regularly used")]
    assert rank_of({"query": "q", "gold": ["escalation policy is regularly used"]}, hits) == 2
    assert rank_of({"query": "q", "gold": ["escalation policy is regularly used"], "doc": "a.pdf"}, hits) == 3
    assert rank_of({"query": "q", "gold": ["not present"]}, hits) is None


def test_kb_eval_reports_figures_and_misses(index, tmp_path):
    golden = tmp_path / "golden.jsonl"
    rows = [
        {"id": "x1", "query": "Use the escalation policy when agencies disagree", "gold": ["escalation policy when agencies disagree"], "doc": "notes.md", "page": 1},
        {"id": "x2", "query": "zebra crossings", "gold": ["a phrase in no report at all"]},
    ]
    golden.write_text("\n".join(json.dumps(row) for row in rows))
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"queries": 2, "hit@1": 0.5, "hit@5": 0.5, "mrr@10": 0.5, "page_accuracy": 1.0}
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden)])
    assert "miss x2: 'zebra crossings'" in result.stdout and "first instead:" in result.stdout
