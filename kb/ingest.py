"""Files in, pages of classified lines out: PDF (pypdf), plain text and Markdown."""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import reduce
from pathlib import Path

from kb import clean, dates
from kb.errors import UnreadableDocument

SUFFIXES = (".pdf", ".txt", ".md")

# A running header that names the organisation a report is about.
ORGANISATION_PATTERNS = (
    # Ofsted's titles and running headers: "Inspection of Devon local authority children's
    # services", "Focused visit to Luton local authority children's services".
    re.compile(
        r"^(?:inspection of|focused visit to) (?P<org>.+?)\s+children[’'`]?s\s+services\b",
        re.IGNORECASE,
    ),
    re.compile(r"^inspection of (?P<org>.+?)\s*$", re.IGNORECASE),
)
MAX_NAME_CHARS = 120  # longer, a PDF's author field is a paragraph, not an organisation's name
# A page number set before or after a running header's words.
_PAGE_NUMBER_BESIDE = re.compile(r"^\d{1,3}\s+|\s+\d{1,3}$")
# Words that make PDF metadata's author an organisation rather than a person.
_ORGANISATION_WORDS = re.compile(
    r"\b(department|council|trust|nhs|ofsted|authority|partnership|service|services|board|agency|"
    r"police|office|government|commission|foundation|borough|county|ministry|institute)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Line:
    """One line of a page: its text, what it is, and the agency whose pages it sits on."""

    text: str
    kind: str = "text"  # text | heading | footnote | blank
    level: float = 0.0  # heading size: larger is higher in the outline
    agency: str = ""


@dataclass
class Page:
    number: int  # 1-based, as a PDF viewer counts
    lines: list[Line] = field(default_factory=list)


@dataclass
class Document:
    name: str
    title: str
    organisation: str
    pages: list[Page]
    sha256: str
    wrapped: bool  # lines are hard-wrapped (PDF) rather than a paragraph each (text extraction)
    date: str = ""  # ISO, to the precision found: "2025-05-13", "2024-08", "2024" (kb/dates.py)

    @property
    def text(self) -> str:
        return "\n".join(line.text for page in self.pages for line in page.lines)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Limits:
    """What parsing one PDF may take in its own process (KB_PDF_TIMEOUT, KB_PDF_MEMORY_MB), and
    how large a text file may be (KB_TEXT_MAX_MB)."""

    seconds: float
    memory_mb: int
    text_mb: float = 5


def regular_file(path: Path) -> bool:
    """Whether path is a regular file reached through no symbolic link (path absolute, its folder
    resolved): what kb reads and serves from the corpus."""
    path = Path(path)
    try:
        return path.resolve() == path and path.is_file()
    except OSError:
        return False


def read_document(
    path: Path, name: str | None = None, sha256: str | None = None, limits: Limits | None = None
) -> Document:
    """Read one report; raises UnreadableDocument with a one-line reason.

    With limits, a PDF is parsed in a child process that is killed when it runs over them, so a
    file that makes pypdf loop or balloon costs one failed file, not the reindex.
    """
    path = Path(path)
    name = name or path.name
    if path.is_symlink() or not path.is_file():
        raise UnreadableDocument("not a regular file")
    if path.stat().st_size == 0:
        raise UnreadableDocument("empty file")
    sha256 = sha256 or file_sha256(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        document = (
            _read_pdf_isolated(path, name, sha256, limits)
            if limits
            else _read_pdf(path, name, sha256)
        )
    elif suffix in (".txt", ".md"):
        size = path.stat().st_size
        if limits and size > limits.text_mb * 1_000_000:
            raise UnreadableDocument(
                f"a text file of {size / 1_000_000:.1f} MB, over the {limits.text_mb:g} MB that "
                "KB_TEXT_MAX_MB allows (a report's text is rarely over 1 MB): split it, or raise "
                "the limit"
            )
        document = _read_text(path, name, sha256, markdown=suffix == ".md")
    else:
        raise UnreadableDocument(
            f"unsupported file type {suffix or '(none)'}; kb reads {', '.join(SUFFIXES)}"
        )
    if not any(line.text.strip() for page in document.pages for line in page.lines):
        raise UnreadableDocument("no text found (empty, or images without a text layer)")
    return document


# --- PDF in a child process -------------------------------------------------------------------

# The child imports only this module and pypdf (no torch, no chromadb): about 0.1 s to start.
_CHILD = (
    "import sys; from kb.ingest import _parse_in_child; sys.exit(_parse_in_child(sys.argv[1:]))"
)


def _read_pdf_isolated(path: Path, name: str, sha256: str, limits: Limits) -> Document:
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", _CHILD, str(path), name, sha256, str(limits.memory_mb)]
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=limits.seconds, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise UnreadableDocument(
            f"parsing took longer than {limits.seconds:g} s (KB_PDF_TIMEOUT), so it was stopped"
        ) from None
    if done.returncode == 0:
        # The child is this module's own code; what it pickles is a Document or a reason.
        outcome = pickle.loads(done.stdout)
        if isinstance(outcome, Document):
            return outcome
        raise UnreadableDocument(str(outcome))
    if done.returncode < 0:
        raise UnreadableDocument(
            f"the PDF parser was killed ({signal.Signals(-done.returncode).name}); "
            f"it may have needed more than {limits.memory_mb} MB (KB_PDF_MEMORY_MB)"
        )
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    raise UnreadableDocument(
        f"the PDF parser failed ({lines[-1][:160] if lines else f'exit code {done.returncode}'})"
    )


def _parse_in_child(args: list[str]) -> int:
    """The child's side: cap memory, parse one PDF, write the pickled Document or reason to
    stdout."""
    import resource

    import pypdf  # noqa: F401 - imported before the cap, which then bounds parsing alone

    path, name, sha256, memory_mb = args
    out, sys.stdout = sys.stdout.buffer, sys.stderr  # stdout carries the result and nothing else
    cap = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        outcome: Document | str = _read_pdf(Path(path), name, sha256)
    except UnreadableDocument as error:
        outcome = str(error)
    except MemoryError:
        outcome = f"parsing needed more than {memory_mb} MB (KB_PDF_MEMORY_MB), so it was stopped"
    out.write(pickle.dumps(outcome))
    return 0


# --- PDF ---------------------------------------------------------------------------------------


@dataclass
class _RawLine:
    text: str
    size: float
    bold: float  # share of characters set in a bold face


def _read_pdf(path: Path, name: str, sha256: str) -> Document:
    import pypdf  # imported here so that `kb --help` stays instant
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(path)
        encrypted = reader.is_encrypted
    except (PdfReadError, ValueError, TypeError, KeyError, IndexError, OSError) as error:
        raise UnreadableDocument(
            f"not a readable PDF{_why_not_a_pdf(path)} ({_short(error)})"
        ) from None
    if encrypted:
        try:
            opened: int = reader.decrypt("")  # a PasswordType, an int: 0 when not decrypted
        except Exception:
            opened = 0
        if not opened:
            raise UnreadableDocument("encrypted PDF: it needs a password")
    try:
        page_count = len(reader.pages)
    except Exception as error:
        raise UnreadableDocument(f"not a readable PDF ({_short(error)})") from None
    if page_count == 0:
        raise UnreadableDocument("PDF has no pages")

    pages_segments = []
    for index in range(page_count):
        try:
            pages_segments.append(_page_segments(reader.pages[index]))
        except MemoryError:
            raise
        except Exception as error:
            raise UnreadableDocument(
                f"page {index + 1} could not be read ({_short(error)})"
            ) from None
    if not any(text.strip() for segments in pages_segments for text, _, _ in segments):
        raise UnreadableDocument("no text layer (scanned images?): run OCR on it first")

    body = _body_size(pages_segments)
    raw_pages = [_raw_lines(segments, body) for segments in pages_segments]
    headers = clean.running_lines([[line.text for line in page] for page in raw_pages])
    kept_pages, page_headers = [], []
    for page in raw_pages:
        kept, removed_top = _drop_running(page, headers)
        kept_pages.append(kept)
        page_headers.append(removed_top)

    metadata = _metadata(reader)
    largest = _pdf_title(raw_pages[0], body)
    title = largest or metadata.get("title") or _title_from_name(name)
    first_page = [line.text.strip() for line in raw_pages[0] if line.text.strip()]
    page_agencies, organisation = _pdf_agencies(
        page_headers, title, metadata.get("author", ""), first_page
    )
    # Ofsted's title pages before 2020 set the council's name largest and the report's own title
    # below it. The title is the report's ("Inspection of children's social care services"); the
    # council is the document's organisation.
    if (not largest or _names(largest, organisation)) and (report := _report_title(first_page)):
        title = report
    date = dates.document_date(" ".join(first_page), name, metadata.get("creationdate", ""))

    acronyms = clean.acronyms(" ".join(line.text for page in kept_pages for line in page))
    pages = []
    for number, (lines, agency) in enumerate(zip(kept_pages, page_agencies), start=1):
        pages.append(
            Page(number, _unglue_marks([_classify(line, body, agency) for line in lines], acronyms))
        )
    return Document(name, title, organisation, pages, sha256, wrapped=True, date=date)


def _unglue_marks(lines: list[Line], acronyms: set[str]) -> list[Line]:
    """A page's footnote marks that extraction glued to words ("duty3", "DPIA23") go, where its
    footnotes are numbered."""
    numbers = {
        number
        for line in lines
        if line.kind == "footnote" and (number := clean.footnote_number(line.text))
    }
    return [
        replace(line, text=clean.strip_footnote_marks(line.text, numbers, acronyms))
        if line.kind in ("text", "heading")
        else line
        for line in lines
    ]


def _why_not_a_pdf(path: Path) -> str:
    """A PDF opens with %PDF- (near its start) and closes with %%EOF; say which end is missing."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
        handle.seek(max(0, path.stat().st_size - 2048))
        tail = handle.read()
    if b"%PDF-" not in head:
        return ": it has no %PDF- header"
    return ": it looks truncated, with no %%EOF at its end" if b"%%EOF" not in tail else ""


Segment = tuple[str, float, bool]  # text, size in points, bold


def _page_segments(page) -> list[Segment]:
    """The page's text in pieces, each with its size and boldness, in reading order."""
    placed: list[tuple[str, float, bool, float]] = []  # and where each starts across the page

    def visit(text, cm, tm, font_dict, font_size):
        scale = math.sqrt(abs(tm[0] * tm[3] - tm[1] * tm[2])) if tm else 1.0
        base = str((font_dict or {}).get("/BaseFont", ""))
        bold = bool(re.search(r"bold|black|heavy|,b\b", base, re.IGNORECASE))
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4] if tm and cm else -1.0
        placed.append((text, round(float(font_size or 0) * (scale or 1.0), 1), bold, x))

    text = page.extract_text(visitor_text=visit)
    if "".join(piece[0] for piece in placed) != text:  # pypdf changed how it reports: keep the text
        return [(text, 0.0, False)]
    try:
        width = float(page.mediabox.width)
    except Exception:
        width = 0.0
    return by_column(placed, width)


MIN_COLUMN_CHARS = 30  # each side of a line two columns share holds at least this much prose
MIN_SHARED_LINES = 5  # lines two columns must share before a page is read as two columns


def by_column(placed: list[tuple[str, float, bool, float]], width: float) -> list[Segment]:
    """Two columns written line by line across the page come out of pypdf as one line from each,
    joined ("...the clinic runs Column two starts..."): pypdf reads text in the order the PDF
    draws it. Where at least MIN_SHARED_LINES lines hold prose on both sides of the page's middle,
    the left column is read whole, then the right. A table's short cells ("Overall
    effectiveness | Good") are not prose, and keep their rows. Columns drawn one after the other
    come out whole already, and are left as they are."""
    lines: list[list[tuple[str, float, bool, float]]] = [[]]
    for text, size, bold, x in placed:
        for number, piece in enumerate(text.split("\n")):
            if number:
                lines.append([])
            if piece:
                lines[-1].append((piece, size, bold, x))
    middle = width / 2

    def halves(line):
        right_at = next(
            (at for at, piece in enumerate(line) if at and piece[3] >= middle > line[0][3] >= 0),
            len(line),
        )
        return line[:right_at], line[right_at:]

    # A column's lines all start at one place: count the lines whose right half starts at the
    # same place as others', with prose on both sides, the left of which ends before the right
    # starts (its width guessed at 0.45 em a character).
    starts: Counter[int] = Counter()
    for line in lines:
        left, right = halves(line)
        left_text, right_text = "".join(p[0] for p in left), "".join(p[0] for p in right)
        if len(left_text.strip()) < MIN_COLUMN_CHARS or len(right_text.strip()) < MIN_COLUMN_CHARS:
            continue
        reach = left[0][3] + 0.45 * max(left[0][1], 1.0) * len(left_text.rstrip())
        if reach < right[0][3]:
            starts[round(right[0][3] / 2)] += 1
    shared = max(starts.values(), default=0)
    if width <= 0 or shared < MIN_SHARED_LINES:
        return [piece[:3] for piece in placed]
    columns: tuple[list, list] = ([], [])
    for line in lines:
        for side, half in zip(columns, halves(line)):
            if half:
                side.append(half)
    out: list[Segment] = []
    for line in [*columns[0], *columns[1]]:
        if out:
            out.append(("\n", line[0][1], line[0][2]))
        out.extend(piece[:3] for piece in line)
    return out


def _body_size(pages_segments) -> float:
    sizes: Counter[float] = Counter()
    for segments in pages_segments:
        for text, size, _ in segments:
            sizes[size] += len(text.strip())
    sizes.pop(0.0, None)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _raw_lines(segments, body: float) -> list[_RawLine]:
    """Split a page's text segments into lines with their dominant size and boldness."""
    lines: list[_RawLine] = []
    parts: list[tuple[str, float, bool]] = []

    def finish():
        weights: Counter[float] = Counter()
        bold = total = 0
        for text, size, is_bold in parts:
            n = len(text.strip())
            weights[size] += n
            total += n
            bold += n if is_bold else 0
        size = weights.most_common(1)[0][0] if total else 0.0
        # Footnote marks set small and raised ("guidance6.") are dropped from body lines.
        text = "".join(
            t
            for t, s, _ in parts
            if not (
                body
                and s
                and s < 0.8 * body
                and size >= 0.9 * body
                and re.fullmatch(r"\s*\d{1,3}\s*", t)
            )
        )
        lines.append(
            _RawLine(
                clean.symbol_bullets(clean.normalise_whitespace(text)),
                size,
                bold / total if total else 0.0,
            )
        )
        parts.clear()

    for text, size, bold in segments:
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                finish()
            if piece:
                parts.append((piece, size, bold))
    finish()
    return lines


def _drop_running(lines: list[_RawLine], headers: set[str], zone: int = 3):
    """Remove running headers, footers and page numbers; return kept lines and removed top lines."""
    content = [i for i, line in enumerate(lines) if line.text.strip()]
    top, bottom = set(content[:zone]), set(content[-zone:])
    removed_top, kept = [], []
    for i, line in enumerate(lines):
        edge = i in top or i in bottom
        if edge and (clean.header_key(line.text) in headers or clean.is_page_number(line.text)):
            if i in top:
                removed_top.append(line.text.strip())
            continue
        kept.append(line)
    return kept, removed_top


def _classify(line: _RawLine, body: float, agency: str) -> Line:
    text = line.text.strip()
    if not text:
        return Line("", "blank", agency=agency)
    words = len(text.split())
    if body and line.size >= 1.15 * body and words <= 30:
        return Line(text, "heading", line.size, agency)
    if (
        body
        and line.bold >= 0.9
        and line.size >= 0.95 * body
        and words <= 20
        and not clean.ends_sentence(text.rstrip("?"))
        and not clean.BULLET_START.match(text)
    ):
        return Line(text, "heading", line.size, agency)
    # Set small, a line is a footnote; but not a bullet, which a footnote never is and pypdf can
    # report at the size of a footnote mark inside it ("runaways30 – Children who go missing").
    if body and 0 < line.size <= 0.85 * body and not clean.BULLET_START.match(text):
        return Line(text, "footnote", agency=agency)
    return Line(text, "text", agency=agency)


def _metadata(reader) -> dict[str, str]:
    try:
        info = reader.metadata or {}
        return {
            key: clean.normalise_whitespace(str(info.get(field) or "")).strip()
            for key, field in (
                ("title", "/Title"),
                ("author", "/Author"),
                ("creationdate", "/CreationDate"),
            )
        }
    except Exception:
        return {}


def _pdf_title(first_page: list[_RawLine], body: float) -> str:
    """The first page's largest words, if they stand out from the body's size; a page number set
    large ("1") is no title."""
    sized = [
        line
        for line in first_page
        if line.text.strip() and line.size and not clean.is_page_number(line.text.strip())
    ]
    if not sized:
        return ""
    largest = max(line.size for line in sized)
    if body and largest < 1.3 * body:
        return ""
    lines = [line.text.strip() for line in sized if line.size == largest]
    # A word hyphenated at a line's end is one word ("looked-" / "after" is "looked-after"), as in
    # a passage's text.
    words = clean.vocabulary(" ".join(lines))
    return reduce(lambda left, right: clean.join_lines(left, right, words), lines)[:300]


def _organisation_in(text: str) -> str:
    for pattern in ORGANISATION_PATTERNS:
        match = pattern.match(text.strip())
        if match:
            # "Inspection of the Isle of Wight local authority…" names the Isle of Wight.
            organisation = re.sub(r"^the\s+", "", match.group("org").strip(" ,–-"), flags=re.I)
            # A name: "Inspection of children's homes: guidance for providers" names no
            # organisation.
            return organisation if organisation[:1].isupper() and ":" not in organisation else ""
    return ""


def _pdf_agencies(
    page_headers: list[list[str]], title: str, author: str, first_page: Sequence[str] = ()
) -> tuple[list[str], str]:
    """Each page's agency, from a running header that names it; and the document's organisation:
    the one a header or the title names, else the one a title page names above "Inspection of…",
    else the PDF's author if that is an organisation."""
    named = [next(filter(None, map(_organisation_in, header)), "") for header in page_headers]
    firsts = [
        next(
            (
                _PAGE_NUMBER_BESIDE.sub("", line)  # "Hull 3" and "4 … Hull" are one header
                for line in header
                if not clean.is_page_number(line) and not re.search(r"\d{4}", line)
            ),
            "",
        )
        for header in page_headers
    ]
    organisation = next(filter(None, named), "") or _organisation_in(title)
    distinct = {line for line in firsts if line}
    # A report's own title ("Inspection of the effectiveness of the local safeguarding children
    # board: Hull") holds an organisation's word but names no organisation.
    organisations = {
        line
        for line in distinct
        if _ORGANISATION_WORDS.search(line) and not _INSPECTION.match(line)
    }
    # Chapter titles change from page to page too ("Section one: roles and duties"): most must be
    # organisations'.
    if not organisation and len(distinct) >= 2 and 2 * len(organisations) >= len(distinct):
        # Headers that change with the agency, as in a partnership report: each page is its
        # agency's.
        named = firsts
        organisation = next((line for line in firsts if line in organisations), "")
    if not organisation:
        organisation = _inspected(first_page)
    if not organisation and len(author) <= MAX_NAME_CHARS and _ORGANISATION_WORDS.search(author):
        organisation = author
    organisation = _uninverted(organisation)
    agencies, current = [], organisation
    for agency in named:
        current = agency or current
        agencies.append(current)
    return agencies, organisation


# A council's name as a register sorts it ("Bristol, City of"; extraction may lose the comma).
_INVERTED = re.compile(r"^(?P<place>.+?),?\s+(?P<kind>(?:Royal\s+)?(?:City|County|Borough))\s+of$")


def _uninverted(name: str) -> str:
    """A name in reading order: "Bristol, City of" is the City of Bristol."""
    match = _INVERTED.match(name)
    return f"{match['kind']} of {match['place']}" if match else name


_INSPECTION = re.compile(
    r"^(?:re-?)?inspection of|^focused visit|^joint targeted area inspection|^review of", re.I
)


def _inspected(first_page: Sequence[str]) -> str:
    """The organisation a title page names in the lines above "Inspection of services for
    children…" (Ofsted's reports before 2018: "London Borough of Barking and" / "Dagenham"), or,
    with none above, in a line of its own just below the title ("Inspection of looked after
    children" / "services" / "Kent County Council", in 2013)."""
    for at, line in enumerate(first_page[:12]):
        if _INSPECTION.match(line):
            above = [text for text in first_page[:at] if not clean.is_page_number(text)][-3:]
            name = " ".join(above).strip()
            if not name:
                return next(
                    (
                        below
                        for below in first_page[at + 1 : at + 4]
                        if 2 <= len(below.split()) <= 10
                        and _reads_as_a_name(below)
                        and _ORGANISATION_WORDS.search(below)
                        and not _INSPECTION.match(below)
                    ),
                    "",
                )
            if len(name.split()) <= 10 and _reads_as_a_name(name):
                return name
            return ""
    return ""


# An inspection's cover lines: when it was inspected, by whom, when published. Set bold, they are
# no heading of the passages below them.
COVER_LINE = re.compile(r"^(?:inspection dates?|lead inspector|report published)\b", re.I)
# Where a title page's report title ends: its cover lines or its grades follow.
_AFTER_TITLE = re.compile(rf"{COVER_LINE.pattern}|^(?:judgement|age group)\b", re.I)
_TITLE_LINES = 8  # a report title wraps over a few lines ("…children in need of help and" / …)
_MARKS = set(range(1, 100))  # the footnote marks a title's words may carry


def _report_title(first_page: Sequence[str]) -> str:
    """An inspection report's own title, from its title page's "Inspection of…" line to its dates:
    "Inspection of services for children in need of help and protection, children looked after
    and care leavers and Review of the effectiveness of the local safeguarding children board"
    (Ofsted, 2014 to 2017); "" if the page has none."""
    for at, line in enumerate(first_page[:12]):
        if _INSPECTION.match(line):
            lines = []
            for text in first_page[at : at + _TITLE_LINES]:
                if _AFTER_TITLE.match(text):
                    break
                lines.append(text)
            # A footnote's mark glued to the title's last word goes ("…children board1"); the
            # footnote, on the page's foot, is not read yet, so any number of one or two digits.
            title = clean.strip_footnote_marks(" ".join(lines), _MARKS)
            # Some title pages capitalise the "And" that joins two reports' titles.
            title = re.sub(r"(?<=\S) And (?=[A-Z])", " and ", title)
            return clean.normalise_whitespace(title).strip()[:300]
    return ""


def _names(words: str, organisation: str) -> bool:
    """Whether a title page's largest words are the organisation's name and nothing more, in any
    order ("Bristol, City of")."""
    return bool(organisation) and clean.name_words(words) == clean.name_words(organisation)


# --- Text and Markdown -------------------------------------------------------------------------


_BINARY = "binary content, not text (or text in an encoding kb cannot tell: save it as UTF-8)"


def _decode(data: bytes) -> str:
    """UTF-8, UTF-16 (with a byte-order mark, or without one if mostly Latin script), else
    Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    elif b"\x00" in data:
        encoding = _utf16_without_bom(data)
        if not encoding:
            raise UnreadableDocument(_BINARY)
        encodings = [encoding]
    else:
        encodings = ["utf-8-sig", "cp1252"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise UnreadableDocument(_BINARY)
    return text


def _utf16_without_bom(data: bytes) -> str:
    """'utf-16-le' or 'utf-16-be' when nearly every other byte is zero, as in UTF-16 Latin text."""
    if len(data) % 2:
        return ""
    for encoding, high_bytes in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if high_bytes.count(0) >= 0.9 * len(high_bytes):
            return encoding
    return ""


def _read_text(path: Path, name: str, sha256: str, markdown: bool) -> Document:
    text = _decode(path.read_bytes())
    text = clean.symbol_bullets(clean.normalise_whitespace(text))
    text = clean.split_inline_bullets(clean.strip_html(text))
    lines = [line.strip() for line in text.split("\n")]
    nonblank = [i for i, line in enumerate(lines) if line]
    if not nonblank:
        raise UnreadableDocument("no text found (empty)")
    header_at = (
        {} if markdown else _header_blocks(lines, nonblank)
    )  # Markdown has headings, not page tops

    title = ""
    first = nonblank[0]
    if first not in header_at and _looks_like_title(lines[first], markdown):
        title = lines[first].lstrip("# ").strip()
        if len(nonblank) > 1:
            lines[first] = ""  # the title is the document's, not a passage
    title = title or _title_from_name(name)

    pages = [Page(1)]
    agency, seen_header = "", False
    skip_until = -1
    for i, line in enumerate(lines):
        if i in header_at:
            block = header_at[i]
            if seen_header:
                pages.append(Page(len(pages) + 1))
            seen_header = True
            agency = lines[block[0]]
            skip_until = block[-1]
            continue
        if i <= skip_until:
            continue
        pages[-1].lines.append(_classify_text(line, agency, markdown))
    first_agency = next((line.agency for page in pages for line in page.lines if line.agency), "")
    for page in pages:  # lines before the first header (a preamble) belong to the first agency
        page.lines = [
            line if line.agency else Line(line.text, line.kind, line.level, first_agency)
            for line in page.lines
        ]
    opening = " ".join([title, *(line for line in lines[:40] if line)])
    date = dates.document_date(opening, name)
    return Document(name, title, first_agency, pages, sha256, wrapped=False, date=date)


def _looks_like_title(line: str, markdown: bool) -> bool:
    """A first line that names the document: a Markdown '# ' heading, or one short line that is not
    a sentence."""
    if markdown and line.startswith("#"):
        return bool(re.match(r"^#\s+\S", line))
    text = line.strip()
    return len(text) <= 200 and _reads_as_a_name(text)


def _header_blocks(lines: list[str], nonblank: list[int]) -> dict[int, list[int]]:
    """Page tops in extracted text: runs of consecutive lines that repeat together as a block.

    Returns {index of a block's first line: indices of the block's lines}.
    """
    pairs = Counter(
        (clean.header_key(lines[a]), clean.header_key(lines[b]))
        for a, b in zip(nonblank, nonblank[1:])
    )
    repeated = {
        pair
        for pair, count in pairs.items()
        if count >= 3
        and len(pair[0]) <= 120
        and not clean.ends_sentence(pair[0])
        and not clean.BULLET_START.match(pair[0])
    }
    in_header: set[int] = set()
    for a, b in zip(nonblank, nonblank[1:]):
        if (clean.header_key(lines[a]), clean.header_key(lines[b])) in repeated:
            in_header.update((a, b))
    blocks: dict[int, list[int]] = {}
    run: list[int] = []
    for i in nonblank:  # header lines next to each other (blank lines aside) are one block
        if i in in_header:
            run.append(i)
            continue
        if run:
            blocks[run[0]] = run
        run = []
    if run:
        blocks[run[0]] = run
    return blocks


def _classify_text(line: str, agency: str, markdown: bool) -> Line:
    if not line:
        return Line("", "blank", agency=agency)
    if markdown:
        match = re.match(r"^(#{1,6})\s+(.*)$", line)
        if match:
            return Line(match.group(2).strip(), "heading", 7 - len(match.group(1)), agency)
        return Line(line, "text", agency=agency)
    if looks_like_heading(line):
        return Line(line, "heading", 0.0, agency)
    return Line(line, "text", agency=agency)


_QUESTION = re.compile(r"^(how|what|why|where|when|who|which|is|are|do|does|can)\b", re.IGNORECASE)


def looks_like_heading(line: str) -> bool:
    """A short title-like line standing alone: 'Domestic Abuse', 'How are you gathering
    feedback...?'."""
    text = line.strip()
    words = text.split()
    question = text.endswith("?") or bool(_QUESTION.match(text))
    if not 1 <= len(words) <= (32 if question else 22) or len(text) > (220 if question else 160):
        return False
    if len(text) > 80 and not question:
        return False
    return _reads_as_a_name(text)


def _reads_as_a_name(text: str) -> bool:
    """A title or heading, not prose or a list item: it opens with a capital or a digit, ends with
    no sentence punctuation, is no bullet, and holds one sentence at most."""
    return (
        (text[0].isupper() or text[0].isdigit())
        and not text.endswith((".", ",", ";", ":"))
        and not clean.BULLET_START.match(text)
        # Two sentences are a paragraph; "St. Helens" is one name.
        and not re.search(r"\b(?!(?:St|Dr|Mr|Mrs|Ms)\.)\w+[.!?]\s+[A-Z]", text)
    )


def _title_from_name(name: str) -> str:
    stem = Path(name).stem.replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", stem).strip()


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]
