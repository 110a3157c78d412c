"""Packs and searches exported to Markdown, CSV and Word, read back with every citation present; kb
export and kb pack."""

import csv
import io
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import BRADFORD, FOUNDING

from kb.clean import without_markup
from kb.cli import cli
from kb.errors import UsageError
from kb.export import (
    CSV_COLUMNS,
    FORMATS,
    NO_AGENCY,
    OUT_OF_DATE,
    csv_cell,
    file_name,
    find_format,
    render,
    sheet,
)
from kb.packs import Packs
from kb.passage import SavedPassage as Passage
from kb.store import Published


def read_markdown(data: bytes) -> str:
    """The text a reader sees: bold marks dropped, escaped characters as themselves."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", data.decode("utf-8")))


def read_csv(data: bytes) -> list[dict]:
    """The rows as a spreadsheet gets them: a quote guarding a formula is kept, as the cell shows
    it."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def read_docx(data: bytes) -> str:
    from docx import Document

    return "\n".join(paragraph.text for paragraph in Document(io.BytesIO(data)).paragraphs)


def heading_levels(data: bytes) -> list[int]:
    """The outline of a Word file: 0 for its title, n for each Heading n, in order."""
    from docx import Document

    styles = [paragraph.style.name for paragraph in Document(io.BytesIO(data)).paragraphs]
    return [
        0 if style == "Title" else int(style.split()[-1])
        for style in styles
        if style == "Title" or style.startswith("Heading")
    ]


def cite_line(passage: Passage, source: int) -> str:
    parts = [
        passage.agency or NO_AGENCY,
        passage.title or passage.document,
        passage.section,
        passage.pages,
    ]
    return " · ".join(part for part in parts if part) + f" (source {source})"


def source_reference(passage: Passage) -> str:
    """The end of a source's line for a document that one passage cites."""
    cited = ", ".join(map(str, range(passage.page, passage.page_end + 1)))
    return (
        f"File: {passage.document}. "
        f"Page{'s' if passage.page_end > passage.page else ''} cited: {cited}."
    )


READ_BACK = {"md": read_markdown, "docx": read_docx}


@pytest.fixture
def passages(index) -> list[Passage]:
    """One passage from each of three documents, with notes, one of them out of date."""
    store = Published.open(index.index_dir)
    chosen = []
    for document in (FOUNDING.name, BRADFORD.name, "notes.md"):
        chunk = next(c for c in store.chunks(document=document) if c.section and c.page)
        packs = Packs(index.index_dir)
        passage, _ = packs.add("Round trip", chunk)
        chosen.append(passage)
    notes = ["Ask: who else should know?", "", "Compare with the <b>Luton</b> & =SUM(A1) approach"]
    chosen = [replace(p, note=note) for p, note in zip(chosen, notes)]
    chosen[1] = replace(chosen[1], out_of_date=True)
    return chosen


def citations(passage: Passage) -> list[str]:
    return [
        passage.agency or "No agency named",
        passage.title,
        passage.section,
        f"page {passage.page}",
        passage.document,
    ]


@pytest.mark.parametrize("format_name", ["md", "docx"])
def test_a_pack_read_back_holds_every_passage_citation_and_note(passages, format_name):
    text = READ_BACK[format_name](
        render(sheet("Round trip", passages, "A session pack of 3 passages."), format_name)
    )
    assert text.splitlines()[0].lstrip("# ") == "Round trip"
    positions = []
    for number, passage in enumerate(
        passages, start=1
    ):  # each from its own document, so its own source
        assert cite_line(passage, number) in text, format_name
        for cited in citations(passage)[:4]:
            assert cited in text, (format_name, cited)
        # Word shows a passage as the page does, without Markdown's marks.
        shown = without_markup(passage.text) if format_name == "docx" else passage.text
        first_line = shown.splitlines()[0]
        assert first_line in text
        positions.append(text.index(first_line))
        if passage.note:
            assert f"Note: {passage.note}" in text
    assert positions == sorted(positions)  # in the pack's order
    assert text.count(OUT_OF_DATE) == 1
    sources = text[text.index("Sources") :]
    for passage in passages:
        assert (passage.title or passage.document) in sources
        assert source_reference(passage) in sources, (format_name, sources)


def test_a_pack_as_csv_has_a_row_per_passage_with_its_full_citation(passages):
    data = render(sheet("Round trip", passages), "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 when it is marked
    rows = read_csv(data)
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == len(passages)
    for number, (row, passage) in enumerate(zip(rows, passages), start=1):
        assert row["number"] == str(number)
        assert (row["agency"], row["report"], row["section"], row["page"], row["page_end"]) == (
            passage.agency,
            passage.title,
            passage.section,
            str(passage.page),
            str(passage.page_end),
        )
        assert (row["note"], row["passage"], row["document"], row["chunk_id"]) == (
            csv_cell(passage.note),
            csv_cell(passage.text),
            passage.document,
            passage.id,
        )  # as a cell shows them
        assert row["source"].startswith(f"[{number}] ") and row["source"].endswith(
            source_reference(passage)
        )
        assert row["out_of_date"] == ("yes" if passage.out_of_date else "")


@pytest.mark.parametrize(
    "text, note, cells",
    [
        (
            "- a bullet from the report",
            "=SUM(A1)",
            ("'- a bullet from the report", "'=SUM(A1)"),
        ),  # "- " still runs
        ("+44 1234 567890", "@cmd", ("'+44 1234 567890", "'@cmd")),
        ("Plain - text", "Ask - then tell", ("Plain - text", "Ask - then tell")),
        ("'Quoted' already", "", ("'Quoted' already", "")),
    ],
)
def test_the_csv_holds_exactly_the_cells_written_a_formula_quoted(passages, text, note, cells):
    (row,) = read_csv(render(sheet("Cells", [replace(passages[0], text=text, note=note)]), "csv"))
    assert (row["passage"], row["note"]) == cells


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+44 1234", "'+44 1234"),
        ("-x", "'-x"),
        ("@cmd", "'@cmd"),
        ("plain - text", "plain - text"),
        (12, "12"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value, cell):
    assert csv_cell(value) == cell


def hostile(passage: Passage) -> Passage:
    return replace(
        passage,
        text="<script>alert(1)</script>\n# not a heading [link](javascript:x) \x07bell",
        citation=replace(passage.citation, section="*bold* <img src=x onerror=alert(1)>"),
        note="`code` | pipe",
    )


def test_report_text_cannot_become_markup_in_markdown_or_break_word(passages):
    evil = [hostile(passages[0])]
    markdown = render(sheet("T <i>", evil), "md").decode("utf-8")
    assert not re.search(r"(?<!\\)[<>\[\]`|]", markdown.replace("\n>", "\n")), (
        markdown
    )  # all escaped, bar quotes
    assert (
        "\\<script\\>alert(1)\\</script\\>" in markdown
        and "> \\# not a heading \\[link\\]" in markdown
    )
    word = read_docx(render(sheet("T", evil), "docx"))  # a control character would make invalid XML
    assert "<script>alert(1)</script>" in word and "bell" in word and "\x07" not in word


@pytest.mark.parametrize(
    "by_agency, levels", [(False, [0, 1, 1, 1, 1]), (True, [0, 1, 2, 1, 2, 1, 2, 1])]
)
def test_word_headings_go_down_one_level_at_a_time(passages, by_agency, levels):
    """Title, then passages (or agencies, then their passages), then Sources: no level skipped, as
    in Markdown."""
    assert heading_levels(render(sheet("Neglect", passages, by_agency=by_agency), "docx")) == levels


def test_a_word_file_is_titled_by_its_pack_and_authored_by_kb(passages):
    from docx import Document

    properties = Document(io.BytesIO(render(sheet("Neglect", passages), "docx"))).core_properties
    assert (properties.title, properties.author, properties.last_modified_by) == (
        "Neglect",
        "kb",
        "kb",
    )


# Each note as CommonMark shows it: its own words and line breaks, never a heading, list, rule or
# code block.
NOTES_RENDERED = [
    ("Ask the group", "<p><strong>Note:</strong> Ask the group</p>"),
    ("Who should know?\n---", "<p><strong>Note:</strong> Who should know?<br />\n---</p>"),
    ("Heading?\n===", "<p><strong>Note:</strong> Heading?<br />\n===</p>"),
    (
        "Steps:\n- the GP\n+ the school\n* the police",
        (
            "<p><strong>Note:</strong> Steps:<br />\n"
            "- the GP<br />\n+ the school<br />\n* the police</p>"
        ),
    ),
    ("1. first\n2) second", "<p><strong>Note:</strong> 1. first<br />\n2) second</p>"),
    (
        "Ask:\n\n    indented after a blank line",
        "<p><strong>Note:</strong> Ask:</p>\n<p>indented after a blank line</p>",
    ),
    ("~~~\nnot code\n~~~", "<p><strong>Note:</strong> ~~~<br />\nnot code<br />\n~~~</p>"),
    ("> # not a quote", "<p><strong>Note:</strong> &gt; # not a quote</p>"),
    (
        "ends with a backslash \\\nnext",
        "<p><strong>Note:</strong> ends with a backslash \\<br />\nnext</p>",
    ),
]


@pytest.mark.parametrize("note, html", NOTES_RENDERED)
def test_a_note_shows_in_markdown_as_its_own_lines_of_text(passages, note, html):
    markdown_it = pytest.importorskip("markdown_it")
    plain = replace(passages[0], text="The report's words.", note=note, out_of_date=False)
    rendered = markdown_it.MarkdownIt("commonmark").render(
        render(sheet("Notes", [plain]), "md").decode("utf-8")
    )
    shown = rendered[rendered.index("<p><strong>Note:") : rendered.index("<h2>Sources</h2>")]
    assert shown == html + "\n", rendered


@pytest.mark.parametrize("line", ["---", "===", "- - -", "-", "= ="])
def test_a_line_of_dashes_in_a_passage_is_text_in_markdown_not_a_heading_or_a_rule(passages, line):
    markdown_it = pytest.importorskip("markdown_it")
    plain = replace(
        passages[0], text=f"Actions agreed\n{line}\n- audit by June", note="", out_of_date=False
    )
    rendered = markdown_it.MarkdownIt("commonmark").render(
        render(sheet("Lines", [plain]), "md").decode("utf-8")
    )
    quoted = rendered[rendered.index("<blockquote>") : rendered.index("</blockquote>")]
    assert "<h" not in quoted and "<hr" not in quoted, quoted
    assert f"Actions agreed\n{line}" in quoted and "<li>audit by June</li>" in quoted


def test_a_comparison_exports_under_each_agency(passages):
    expected = [p.agency or NO_AGENCY for p in passages]
    assert expected[-1] == NO_AGENCY  # notes.md names no agency
    word = read_docx(render(sheet("Neglect", passages, by_agency=True), "docx")).splitlines()
    assert [
        line for line in word if line in set(expected)
    ] == expected  # each agency a heading of its own, in order
    markdown = read_markdown(render(sheet("Neglect", passages, by_agency=True), "md"))
    headings = re.findall(r"^## (.+)$", markdown, re.M)
    assert headings[:-1] == expected and headings[-1] == "Sources"


@pytest.fixture
def two_pages(index) -> Passage:
    """A passage a page break cuts, saved in a pack."""
    chunk = next(
        chunk for chunk in Published.open(index.index_dir).chunks() if chunk.page_end > chunk.page
    )
    passage, _ = Packs(index.index_dir).add("Across pages", chunk)
    return passage


@pytest.mark.parametrize("format_name", ["md", "docx"])
def test_a_passage_a_page_break_cuts_is_cited_with_both_pages(two_pages, format_name):
    first, last = two_pages.page, two_pages.page_end
    text = READ_BACK[format_name](render(sheet("Across pages", [two_pages]), format_name))
    section = f" · {two_pages.section}" if two_pages.section else ""
    assert (
        f"{two_pages.agency} · {two_pages.title}{section} · pages {first}–{last} (source 1)" in text
    )
    assert f"File: {two_pages.document}. Pages cited: {first}, {last}." in text


def test_a_passage_a_page_break_cuts_has_its_last_page_in_the_csv(two_pages):
    (row,) = read_csv(render(sheet("Across pages", [two_pages]), "csv"))
    assert list(row)[list(row).index("page") + 1] == "page_end"
    assert (row["page"], row["page_end"]) == (str(two_pages.page), str(two_pages.page_end))
    assert f"Pages cited: {two_pages.page}, {two_pages.page_end}." in row["source"]


@pytest.mark.parametrize(
    "name, filename, expected",
    [
        ("md", None, "md"),
        ("DOCX", None, "docx"),
        (".csv", None, "csv"),
        (None, "out/pack.docx", "docx"),
        ("md", "pack.docx", "md"),
    ],
)
def test_the_format_comes_from_the_option_or_the_file_name(name, filename, expected):
    assert find_format(name, filename) == expected


@pytest.mark.parametrize(
    "name, filename, message",
    [
        ("pdf", None, "unknown format 'pdf'; choose from: md, csv, docx"),
        (
            None,
            "pack.pdf",
            "say which format with --format (md, csv, docx); the file name 'pack.pdf' does not say",
        ),
        (None, None, "say which format: one of md, csv, docx"),
    ],
)
def test_an_unknown_format_is_refused_with_the_choices(name, filename, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        find_format(name, filename)


def test_download_names_are_safe():
    assert file_name("Neglect – level 3 / ../x", "docx") == "Neglect-level-3-..-x.docx"
    assert file_name("<>", "md") == "kb-export.md"
    # A pack's name may hold any punctuation: its file name keeps letters, digits, "." and "-".
    assert file_name("Neglect L3 12/03/2027 #2: DA?", "docx") == "Neglect-L3-12-03-2027-2-DA.docx"
    assert file_name('DA: "session" #2 \\ C:\\x', "md") == "DA-session-2-C-x.md"
    assert file_name("?#:/", "csv") == file_name("..", "csv") == "kb-export.csv"
    assert set(FORMATS) == {"md", "csv", "docx"}


# --- the CLI -----------------------------------------------------------------------------------


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.mark.parametrize("format_name", ["md", "csv", "docx"])
def test_kb_export_writes_a_search_in_each_format(index, tmp_path, format_name):
    out = tmp_path / f"search.{format_name}"
    code, _, err = run(
        "export", "--query", "escalation policy when agencies disagree", "-k", "3", "-o", str(out)
    )
    assert code == 0, err
    assert "Wrote 3 passages to" in err
    data = out.read_bytes()
    text = read_csv(data) if format_name == "csv" else READ_BACK[format_name](data)
    if format_name == "csv":
        assert (
            len(text) == 3
            and text[0]["document"] == "notes.md"
            and text[0]["section"] == "Escalation"
        )
    else:
        assert "Use the escalation policy when agencies disagree." in text
        assert (
            "notes.md" in text and "Sources" in text and "for the search “escalation policy" in text
        )


def test_kb_export_by_agency_and_by_theme(index, tmp_path):
    code, out, err = run(
        "export", "--theme", "training", "--by-agency", "-k", "2", "--format", "md", "-o", "-"
    )
    # -o - writes to standard output
    assert code == 0, err
    markdown = read_markdown(out)
    assert markdown.startswith("# Training\n")
    agencies = re.findall(r"^## (.+)$", markdown, re.M)[:-1]
    assert len(agencies) >= 3 and len(set(agencies)) == len(agencies)
    assert "ELFT" in agencies and "Bradford Children and Families Trust" in agencies


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["export", "-q", "neglect", "--format", "pdf", "-o", "x.pdf"],
            2,
            "unknown format 'pdf'; choose from: md, csv, docx",
        ),
        (
            ["export", "-q", "neglect", "-o", "x.txt"],
            2,
            "say which format with --format (md, csv, docx)",
        ),
        (["export", "-q", "neglect", "-o", "{tmp}"], 2, "it is a folder; give a file name"),
        (
            ["export", "-q", "neglect", "-o", "{tmp}/missing/x.md"],
            2,
            "{tmp}/missing does not exist",
        ),
        (
            ["export", "-q", "neglect", "-o", "{tmp}/notes.md/x.md"],
            2,
            "{tmp}/notes.md is a file, not a folder",
        ),
        (["export", "-o", "x.md"], 2, "give --query Q or --theme NAME (one of the two)"),
        (
            ["export", "--theme", "cooking", "-o", "x.md"],
            2,
            "no theme is called 'cooking'; the themes are: domestic-abuse, neglect",
        ),
        (
            ["export", "-q", "neglect", "--agency", "Police", "-o", "{tmp}/x.md"],
            2,
            "no agency matches 'Police'",
        ),
        (
            ["export", "-q", "neglect", "--by-agency", "--agency", "ELFT", "-o", "x.md"],
            2,
            "--by-agency compares every agency",
        ),
        (["export", "-q", "  ", "-o", "x.md"], 2, "the query is empty"),
        (["pack", "show", "Missing"], 2, "no pack is called 'Missing'; the packs are: none yet"),
        (["pack", "export", "Missing", "-o", "{tmp}/x.md"], 2, "no pack is called 'Missing'"),
        (
            ["pack", "export", "Missing", "--format", "odt", "-o", "x.odt"],
            2,
            "unknown format 'odt'",
        ),
    ],
)
def test_bad_export_input_gets_one_clear_line(index, tmp_path, args, code, message):
    (tmp_path / "notes.md").write_text("a file where a folder is expected")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    exit_code, _, err = run(*args)
    assert exit_code == code, err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert err.count("\n") == 1


def test_kb_pack_list_show_and_export(index, passages, tmp_path):
    Packs(index.index_dir).set_note("Round trip", passages[0].entry, "Ask: who else should know?")
    code, out, _ = run("pack", "list")
    assert code == 0 and re.match(
        r"Round trip\t3 passages\tchanged \d{4}-\d\d-\d\d \d\d:\d\d UTC\towner unknown\n$",
        out.decode(),
    )

    code, out, _ = run("pack", "show", "round trip")
    shown = out.decode()
    assert code == 0 and shown.startswith("Round trip: 3 passages\n")
    assert f"1. {passages[0].agency} | {passages[0].document} | page {passages[0].page}" in shown
    assert "Note: Ask: who else should know?" in shown
    assert "out of date" not in shown  # nothing has changed in the index

    out_file = tmp_path / "pack.docx"
    code, _, err = run("pack", "export", "Round trip", "-o", str(out_file))
    assert code == 0 and "Wrote 3 passages" in err
    word = read_docx(out_file.read_bytes())
    for passage in passages:
        assert all(cited in word for cited in citations(passage))


def test_kb_pack_list_with_no_packs_says_where_it_looked_and_how_to_make_one(settings):
    code, out, _ = run("pack", "list")
    assert code == 0 and f"No packs yet in {settings.index_dir.resolve()}" in out.decode()
    assert "--index or KB_INDEX_DIR" in out.decode()


def test_kb_pack_show_and_kb_export_cite_a_passage_a_page_break_cuts_with_both_pages(two_pages):
    cited = f"pages {two_pages.page}–{two_pages.page_end}"
    code, out, _ = run("pack", "show", "Across pages")
    assert code == 0 and f"1. {two_pages.agency} | {two_pages.document} | {cited}\n" in out.decode()

    words = " ".join(two_pages.text.split()[:12])
    code, out, err = run(
        "export",
        "--query",
        words,
        "--document",
        two_pages.document,
        "-k",
        "1",
        "--format",
        "md",
        "-o",
        "-",
    )
    assert code == 0, err
    assert f"· {cited} (source 1)" in read_markdown(out) and two_pages.text.splitlines()[
        0
    ] in read_markdown(out)


@pytest.mark.parametrize("format_name", ["md", "csv", "docx"])
def test_kb_pack_export_cites_a_passage_a_page_break_cuts_with_both_pages(
    two_pages, tmp_path, format_name
):
    out_file = tmp_path / f"pack.{format_name}"
    code, _, err = run("pack", "export", "Across pages", "-o", str(out_file))
    assert code == 0, err
    if format_name == "csv":
        (row,) = read_csv(out_file.read_bytes())
        assert (row["page"], row["page_end"]) == (str(two_pages.page), str(two_pages.page_end))
    else:
        assert f"pages {two_pages.page}–{two_pages.page_end} (source 1)" in READ_BACK[format_name](
            out_file.read_bytes()
        )


@pytest.mark.parametrize("format_name", ["md", "docx"])
def test_kb_export_by_agency_puts_passages_that_name_no_agency_last(index, format_name):
    code, out, err = run(
        "export",
        "-q",
        "escalation policy when agencies disagree",
        "--by-agency",
        "-k",
        "2",
        "--format",
        format_name,
        "-o",
        "-",
    )
    assert code == 0, err
    lines = READ_BACK[format_name](out).splitlines()
    mark = "## " if format_name == "md" else ""
    unnamed, sources = lines.index(f"{mark}{NO_AGENCY}"), lines.index(f"{mark}Sources")
    before = [line.strip("*").split(" · ")[0] for line in lines[:unnamed] if "(source " in line]
    after = [
        line.strip("*").split(" · ")[0] for line in lines[unnamed:sources] if "(source " in line
    ]
    assert len(set(before)) >= 3 and "No agency named" not in before  # the named agencies first
    assert after == ["No agency named"]
    assert "Use the escalation policy when agencies disagree." in "\n".join(lines[unnamed:sources])
