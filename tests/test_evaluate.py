import json
import re

import pytest
from click.testing import CliRunner

from kb import evaluate
from kb.cli import cli
from kb.errors import UsageError
from kb.evaluate import below, load_queries, load_thresholds, rank_of
from kb.passage import Citation, Hit
from kb.search import RETRIEVALS


def hit(text, document="a.pdf", page=1, agency="Agency", page_end=0):
    citation = Citation(document, "Title", agency, "Section", page, page_end)
    return Hit(id="id", text=text, citation=citation, score=0.5)


def test_rank_of_matches_gold_phrases_ignoring_case_and_spacing_and_checks_the_document():
    hits = [
        hit("Nothing here"),
        hit("The  Escalation Policy is\nregularly used", "b.pdf"),
        hit("The escalation policy is regularly used"),
    ]
    assert rank_of({"query": "q", "gold": ["escalation policy is regularly used"]}, hits) == 2
    assert (
        rank_of(
            {"query": "q", "gold": ["escalation policy is regularly used"], "doc": "a.pdf"}, hits
        )
        == 3
    )
    assert rank_of({"query": "q", "gold": ["not present"]}, hits) is None


def test_a_gold_phrase_is_its_words_whatever_punctuation_stands_between_them():
    """A judgement copied from a PDF's table matches the same words as a passage lists them."""
    gold = {"query": "q", "gold": ["children in care Good The experiences and progress of care"]}
    table = "- The experiences and progress of children in care: Good\n- The experiences and "
    assert rank_of(gold, [hit(table + "progress of care leavers: Good")]) == 1
    assert rank_of({"query": "q", "gold": ["the child’s voice"]}, [hit("the child's voice")]) == 1
    assert rank_of(gold, [hit(table.replace("Good", "Inadequate") + "progress of care")]) is None
    assert rank_of({"query": "q", "gold": ["care"]}, [hit("careful")]) is None  # words, not parts


def test_agency_and_page_narrow_what_counts_as_a_hit():
    hits = [
        hit("the clinic runs weekly", agency="Community Health", page=3),
        hit("the clinic runs weekly", agency="Bedfordshire Hospitals Trust", page=5),
    ]
    gold = {"query": "q", "gold": ["clinic runs weekly"]}
    assert rank_of(gold, hits) == 1
    assert (
        rank_of({**gold, "agency": "Bedfordshire Hospitals"}, hits) == 2
    )  # part of the name, any case
    assert rank_of({**gold, "page": 5}, hits) == 2
    assert rank_of({**gold, "page": 5}, hits[:1]) is None
    assert rank_of({**gold, "page": 5}, hits[:1], pages=False) == 1


def test_thresholds_come_from_the_project_configuration(tmp_path):
    project = tmp_path / "thresholds.toml"
    project.write_text("min_hit_at_5 = 0.9\nmin_mrr_at_10 = 0.5\n", encoding="utf-8")
    thresholds = load_thresholds(project)
    assert thresholds == {"min_hit_at_5": 0.9, "min_mrr_at_10": 0.5}
    assert below({"hit@5": 0.8, "mrr@10": 0.6}, thresholds) == ["hit@5 0.8 < 0.9"]
    assert below({"hit@5": 0.95, "mrr@10": 0.6}, thresholds) == []
    assert (
        below({"hit@5": 0.9, "mrr@10": 0.5}, {"min_hit_at_5": 0.9, "min_mrr_at_10": 0.5}) == []
    )  # at is not below
    project.write_text("min_hit_at_50 = 0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown keys .'min_hit_at_50'.; known:"):
        load_thresholds(project)
    assert load_thresholds(tmp_path / "absent.toml") == {}


def test_a_passage_cut_by_a_page_break_is_right_at_either_page():
    gold = {"query": "q", "gold": ["clinic runs weekly"], "page": 5}
    assert rank_of(gold, [hit("the clinic runs weekly", page=4, page_end=5)]) == 1
    assert rank_of({**gold, "page": 4}, [hit("the clinic runs weekly", page=4, page_end=5)]) == 1
    assert rank_of({**gold, "page": 6}, [hit("the clinic runs weekly", page=4, page_end=5)]) is None


class Ranked:
    """A searcher that answers each query with the hits given for it."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def search(self, query, k, collections=None):
        self.asked.append(k)
        self.within = collections
        return type("Results", (), {"hits": self.answers[query][:k]})()


def test_the_figures_are_hit_at_1_hit_at_5_mrr_at_10_and_page_accuracy():
    def ranked_at(rank, page=1):  # the right passage at this rank, behind others
        return (
            [hit(f"other passage {n}") for n in range(1, rank)]
            + [hit("the right passage", page=page)]
            + [hit(f"later passage {n}") for n in range(20)]
        )

    answers = {
        "one": ranked_at(1),
        "two": ranked_at(2),
        "seven": ranked_at(7),
        "twelve": ranked_at(12),
        "wrong page": ranked_at(1, page=9),
        "none": ranked_at(40),
    }
    queries = [
        {
            "query": query,
            "gold": ["the right passage"],
            **({"page": 1} if query in ("one", "wrong page") else {}),
        }
        for query in answers
    ]
    searcher = Ranked(answers)
    report = evaluate.evaluate(searcher, queries, k=10)
    assert report.figures() == {
        "queries": 6,
        "hit@1": round(1 / 6, 3),
        "hit@5": round(2 / 6, 3),
        "mrr@10": round((1 + 1 / 2 + 1 / 7) / 6, 3),
        "page_accuracy": 0.5,  # found twice where a page is named, cited at it once
    }
    assert [miss["query"] for miss in report.misses] == ["seven", "twelve", "wrong page", "none"]
    evaluate.evaluate(searcher, queries, k=3)
    assert set(searcher.asked) == {10}  # MRR@10 is read from 10 passages, whatever is asked
    assert searcher.within is None  # no collection named: the searcher's default


def test_a_query_is_asked_in_the_collection_it_names():
    searcher = Ranked({"neglect": [hit("the right passage")]})
    query = {"query": "neglect", "gold": ["the right passage"], "collection": "luton"}
    assert evaluate.evaluate(searcher, [query]).figures()["hit@1"] == 1.0
    assert searcher.within == ["luton"]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"query": "neglect", gold: []}', ":1: not JSON"),
        ('["neglect"]', ":1: each line is an object with a 'query'"),
        ('{"query": "  ", "gold": ["x"]}', ":1: each line is an object with a 'query'"),
        ('{"query": "neglect", "gold": "a phrase"}', ":1: 'gold' is a list of the phrases"),
        ('{"query": "neglect", "gold": []}', ":1: 'gold' is a list of the phrases"),
        (
            '{"query": "neglect", "gold": ["x"], "page": "five"}',
            ":1: 'page' is a page number from 1, not 'five'",
        ),
        ("", " holds no queries"),
    ],
)
def test_a_bad_golden_file_is_named_with_the_line_and_why(tmp_path, line, message):
    path = tmp_path / "golden.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(UsageError, match=re.escape(message)):
        load_queries(path)


def test_the_project_sets_thresholds_for_every_figure():
    assert set(load_thresholds()) == set(evaluate.THRESHOLDS)


def test_kb_eval_reports_figures_and_misses(index, tmp_path):
    golden = tmp_path / "golden.jsonl"
    rows = [
        {
            "id": "x1",
            "query": "Use the escalation policy when agencies disagree",
            "gold": ["escalation policy when agencies disagree"],
            "doc": "notes.md",
            "page": 1,
        },
        {"id": "x2", "query": "zebra crossings", "gold": ["a phrase in no report at all"]},
    ]
    golden.write_text("\n".join(json.dumps(row) for row in rows))
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "queries": 2,
        "hit@1": 0.5,
        "hit@5": 0.5,
        "mrr@10": 0.5,
        "page_accuracy": 1.0,
        "below_thresholds": [],
    }
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden)])
    assert (
        "miss x2 (not in the top k): 'zebra crossings'" in result.stdout
        and "first instead:" in result.stdout
    )

    # Held to the project's thresholds, half the queries is not enough: exit 1, saying why.
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--check"])
    assert result.exit_code == 1
    assert "below the thresholds in kb/data/thresholds.toml: " in result.stderr
    assert "hit@5 0.5 < " in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--compare", "--json"], "use it without --json, --check and --retrieval"),
        (["--compare", "--retrieval", "bm25"], "use it without --json, --check and --retrieval"),
        (["-k", "5"], "5 is not in the range 10<=x<=100"),
    ],
)
def test_kb_eval_refuses_options_that_would_not_be_honoured(index, args, message):
    result = CliRunner().invoke(cli, ["eval", *args])
    assert result.exit_code == 2 and message in result.output


def test_kb_eval_compare_prints_one_row_per_retrieval(index, tmp_path):
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps(
            {
                "id": "x1",
                "query": "escalation policy",
                "gold": ["escalation policy when agencies disagree"],
            }
        )
    )
    result = CliRunner().invoke(cli, ["eval", "--queries", str(golden), "--compare"])
    assert result.exit_code == 0, result.output
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines()[2:]]
    assert rows == list(RETRIEVALS)
