"""The administrator's corrections: a document's organisation, title and date, in one plain file.

corpus/documents.csv, a spreadsheet's CSV with a header row:

    file,organisation,title,date
    luton/police-annual-statement-2024.pdf,Bedfordshire Police,,2024-06
    inspections/leeds__childrens_services_inspection_-_27_march_2015.pdf,Leeds City Council,,

`file` is the document's path under the corpus folder, as kb names it; an empty cell leaves what
kb found. The date is a year, a year and month or a full date (2024, 2024-06, 2024-06-30).
Changing a row re-indexes that document alone at the next reindex.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from kb.errors import KbError
from kb.ingest import Document, Page

FILE_NAME = "documents.csv"
COLUMNS = ("file", "organisation", "title", "date")
_DATE = re.compile(r"^\d{4}(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")


class BadCorrections(KbError):
    """corpus/documents.csv cannot be read as it stands; the message says where and why."""


@dataclass(frozen=True)
class Correction:
    organisation: str = ""
    title: str = ""
    date: str = ""

    def fingerprint(self) -> str:
        """What the document's hash takes in, so that a changed row re-indexes the document."""
        text = "\x00".join((self.organisation, self.title, self.date))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def apply(self, document: Document) -> Document:
        """The document as corrected. A new organisation replaces the old wherever the old stood
        as a passage's agency (not a partner's, which a heading or running header named)."""
        organisation = self.organisation or document.organisation
        pages = document.pages
        if self.organisation and self.organisation != document.organisation:
            old = document.organisation
            pages = [
                Page(
                    page.number,
                    [
                        replace(line, agency=organisation) if line.agency in ("", old) else line
                        for line in page.lines
                    ],
                )
                for page in document.pages
            ]
        return replace(
            document,
            organisation=organisation,
            title=self.title or document.title,
            date=self.date or document.date,
            pages=pages,
        )


def read(corpus_dir: Path) -> dict[str, Correction]:
    """{document: its correction} from corpus/documents.csv; none if there is no such file."""
    path = Path(corpus_dir) / FILE_NAME
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BadCorrections(f"{path}: cannot be read ({error}); save it as UTF-8 CSV") from None
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(rows, [])]
    unknown = [name for name in header if name not in COLUMNS]
    if "file" not in header or unknown:
        raise BadCorrections(
            f"{path}: the first row names the columns, from {', '.join(COLUMNS)}, with file "
            f"among them; found {', '.join(header) or 'none'}"
        )
    found: dict[str, Correction] = {}
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: (row[at].strip() if at < len(row) else "") for at, name in enumerate(header)}
        name = cells["file"].strip("/")
        if not name:
            raise BadCorrections(f"{path}:{number}: the file cell is empty")
        date = cells.get("date", "")
        if date and not _DATE.match(date):
            raise BadCorrections(
                f"{path}:{number}: the date {date!r} is not a year, year-month or date "
                "(2024, 2024-06, 2024-06-30)"
            )
        found[name] = Correction(cells.get("organisation", ""), cells.get("title", ""), date)
    return found
