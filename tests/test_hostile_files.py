"""Hostile and broken files, each through a real `kb reindex`: named with its reason, the rest
indexed, nothing already indexed lost. Every PDF here is made by the test, none is checked in."""

import io
import random
import zlib

import pypdf
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.store import Published


def pdf_bytes(
    content: bytes,
    stream_keys: bytes = b"",
    resources: bytes = b"/Font << /F1 4 0 R >>",
    extra: tuple[bytes, ...] = (),
) -> bytes:
    """A one-page PDF around a content stream, with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << %s >> /Contents 5 0 R >>"
        )
        % resources,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(content), stream_keys, content),
        *extra,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def text_pdf(*lines: str) -> bytes:
    shown = b"".join(
        b"(%s) Tj 0 -16 Td " % line.replace("(", r"\(").replace(")", r"\)").encode("latin-1")
        for line in lines
    )
    return pdf_bytes(b"BT /F1 12 Tf 72 720 Td " + shown + b"ET")


REPORT = text_pdf("Escalation policy: agencies that disagree meet within five working days.")
SCRIPT = "<script>alert(1)</script>"


def truncated() -> bytes:
    return REPORT[: len(REPORT) // 2]


def encrypted() -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(REPORT))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_only() -> bytes:
    """A scan: a page that draws one image and holds no text."""
    image = (
        b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length 4 >>\nstream\n\x00\xff\xff\x00\nendstream"
    )
    return pdf_bytes(
        b"q 400 0 0 400 100 300 cm /Im1 Do Q",
        resources=b"/XObject << /Im1 6 0 R >>",
        extra=(image,),
    )


def slow() -> bytes:
    """A million text operators: pypdf works through them for many seconds (as it would loop)."""
    content = b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj " * 1_000_000 + b"ET"
    return pdf_bytes(zlib.compress(content, 9), b"/Filter /FlateDecode")


def balloon() -> bytes:
    """64 MB of content stream in 64 KB of file, under pypdf's own 75 MB cap on decompression."""
    return pdf_bytes(zlib.compress(b" " * (64 << 20), 9), b"/Filter /FlateDecode")


# (file, its new content, the environment for the run, the reason kb gives)
UNREADABLE = {
    "truncated PDF": (
        "report.pdf",
        truncated,
        {},
        "not a readable PDF: it looks truncated, with no %%EOF at its end (",
    ),
    "random bytes named .pdf": (
        "report.pdf",
        lambda: random.Random(7).randbytes(4000),
        {},
        "not a readable PDF: it has no %PDF- header (",
    ),
    "empty file": ("report.pdf", lambda: b"", {}, "empty file"),
    "encrypted PDF": ("report.pdf", encrypted, {}, "encrypted PDF: it needs a password"),
    "image-only PDF": (
        "report.pdf",
        image_only,
        {},
        "no text layer (scanned images?): run OCR on it first",
    ),
    "text in an encoding kb cannot tell": (
        "minutes.txt",
        lambda: "Minutes of the partnership board".encode("utf-32-le"),
        {},
        "binary content, not text (or text in an encoding kb cannot tell: save it as UTF-8)",
    ),
    "PDF over the time limit": (
        "report.pdf",
        slow,
        {"KB_PDF_TIMEOUT": "1"},
        "parsing took longer than 1 s (KB_PDF_TIMEOUT), so it was stopped",
    ),
    "PDF over the memory limit": (
        "report.pdf",
        balloon,
        {"KB_PDF_MEMORY_MB": "80"},
        "parsing needed more than 80 MB (KB_PDF_MEMORY_MB), so it was stopped",
    ),
}


@pytest.fixture
def corpus_dir(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(REPORT)
    (corpus / "minutes.txt").write_text(
        "Minutes of the partnership board\n\nThe board agreed the escalation policy.\n"
    )
    (corpus / "notes.md").write_text(
        "# Practice notes\n\nUse the escalation policy when agencies disagree.\n"
    )
    return corpus


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output + (
        result.stderr if result.stderr_bytes is not None else ""
    )


def passages(settings) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for chunk in Published.open(settings.index_dir).chunks():
        found.setdefault(chunk.document, []).append(chunk.text)
    return found


@pytest.mark.parametrize("case", UNREADABLE)
def test_a_hostile_file_is_named_with_its_reason_and_the_rest_indexed(
    case, index, corpus_dir, monkeypatch
):
    name, make, environment, reason = UNREADABLE[case]
    before = passages(index)
    (corpus_dir / name).write_bytes(make())
    (corpus_dir / "fresh.md").write_text(
        "# Early help\n\nFamily hubs offer early help assessments.\n"
    )
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)

    code, out = run("reindex")

    assert code == 1, out
    assert f"failed: {name}: {reason}" in out
    assert "1 added, 0 updated, 0 removed, 2 unchanged, 1 failed" in out
    after = passages(index)
    assert after.pop("fresh.md") == ["Family hubs offer early help assessments."]
    assert after == before  # the failed file keeps what was indexed of it


def test_a_pdf_whose_text_holds_script_is_indexed_as_plain_text(index, corpus_dir):
    (corpus_dir / "report.pdf").write_bytes(text_pdf(f"Zebra crossings {SCRIPT} near the school."))
    code, out = run("reindex")
    assert code == 0, out
    assert "0 added, 1 updated" in out
    assert passages(index)["report.pdf"] == [f"Zebra crossings {SCRIPT} near the school."]

    # The page shows it as text (tests/test_web.py checks the escaping everywhere, on a Markdown
    # report).
    from web import create_app

    client = create_app(index).test_client()
    html = client.get(
        "/", query_string={"q": "zebra crossings", "document": "report.pdf"}
    ).get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;" in html and "alert(1)" in html


def test_a_pdf_whose_author_field_runs_on_is_indexed_with_a_short_agency(index, corpus_dir):
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(REPORT))
    writer.add_metadata(
        {"/Author": "Luton Borough Council " + "and the partners named in the annex " * 70}
    )
    out = io.BytesIO()
    writer.write(out)
    (corpus_dir / "report.pdf").write_bytes(out.getvalue())
    code, out = run("reindex")
    assert code == 0, out
    (chunk,) = [
        chunk
        for chunk in Published.open(index.index_dir).chunks()
        if chunk.document == "report.pdf"
    ]
    assert chunk.text == "Escalation policy: agencies that disagree meet within five working days."
    assert (
        chunk.agency == "" and chunk.title == "report"
    )  # not taken for a name: no agency is claimed


@pytest.mark.parametrize(
    "codec",
    ["utf-16", "utf-16-le", "cp1252"],
    ids=["UTF-16 with a byte-order mark", "UTF-16 without one", "Windows-1252"],
)
def test_text_in_another_encoding_is_read_as_written(codec, index, corpus_dir):
    text = "Café notes: “naïve” £5 consent forms for the crèche"
    (corpus_dir / "minutes.txt").write_bytes(f"Minutes\n\n{text}.\n".encode(codec))
    code, out = run("reindex")
    assert code == 0, out
    assert passages(index)["minutes.txt"] == [f"{text}."]


def test_the_child_process_parses_as_the_parent_would(tmp_path):
    from conftest import BRADFORD

    from kb.ingest import Limits, read_document

    assert read_document(BRADFORD, limits=Limits(60, 1024)) == read_document(BRADFORD)


@pytest.mark.parametrize(
    "child, reason",
    [
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
            (
                "the PDF parser was killed (SIGSEGV); "
                "it may have needed more than 80 MB (KB_PDF_MEMORY_MB)"
            ),
        ),
        (
            "raise RecursionError('maximum recursion depth exceeded')",
            "the PDF parser failed (RecursionError: maximum recursion depth exceeded)",
        ),
    ],
    ids=["killed", "escaped exception"],
)
def test_a_parser_that_dies_is_named_from_outside(child, reason, tmp_path, monkeypatch):
    """What pypdf raises becomes a reason inside the child; a crash, or what escapes, is seen from
    outside."""
    import subprocess

    from kb.errors import UnreadableDocument
    from kb.ingest import Limits, read_document

    run = subprocess.run
    monkeypatch.setattr(
        subprocess, "run", lambda command, **options: run([command[0], "-c", child], **options)
    )
    (tmp_path / "report.pdf").write_bytes(REPORT)
    with pytest.raises(UnreadableDocument, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_document(tmp_path / "report.pdf", limits=Limits(30, 80))
