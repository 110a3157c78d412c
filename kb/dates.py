"""A document's date, from the words on its title page, its file name or its PDF's metadata.

Dates are kept as ISO text to the precision found: "2025-05-13", "2024-08" or "2024". A span
("17 to 21 March 2025", "2023-24") is dated by its end, when the work it reports was done.
"""

from __future__ import annotations

import datetime
import re

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_YEAR = r"(?:19[89]\d|20[0-4]\d)"
# "13 May 2025", "13th May 2025", "17 to 21 March 2025" (the day before the month is the end's)
_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+({_YEAR})\b", re.I
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+({_YEAR})\b", re.I)
_SPAN = re.compile(rf"\b({_YEAR})\s*[-–/]\s*(\d{{2}}|{_YEAR})\b")  # "2023-24", "2023/2024"
_LONE_YEAR = re.compile(rf"\b({_YEAR})\b")
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?")


def date_in(text: str, lone_year: bool = True) -> str:
    """The first date a text gives ("" if none): the earliest of a day, a month or a span of
    years; a year on its own ("Children Act 1989") only if asked for and nothing else is found."""
    found: list[tuple[int, str]] = []
    for match in _DAY_MONTH_YEAR.finditer(text):
        day, name, year = match.groups()
        try:  # a day the month has: not 31 February
            real = datetime.date(int(year), MONTHS[name.lower()], int(day))
        except ValueError:
            continue
        found.append((match.start(), real.isoformat()))
        break
    month = _MONTH_YEAR.search(text)
    if month:
        name, year = month.groups()
        found.append((month.start(), f"{year}-{MONTHS[name.lower()]:02d}"))
    for span in _SPAN.finditer(text):
        start, end = span.groups()
        end_year = int(end) if len(end) == 4 else int(start[:2] + end)
        if 0 < end_year - int(start) <= 2:
            found.append((span.start(), str(end_year)))
            break
    if found:
        # A month found inside a day's match ("13 May 2025") is that day.
        found.sort(key=lambda item: (item[0], -len(item[1])))
        first_at, first = found[0]
        days = [date for at, date in found if len(date) == 10 and at <= first_at + 3]
        return days[0] if days else first
    year = _LONE_YEAR.search(text) if lone_year else None
    return year.group(1) if year else ""


def from_name(name: str, lone_year: bool = True) -> str:
    """A date a file name gives: "bradford__..._-_21_may_2026.pdf" -> "2026-05-21"."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return date_in(re.sub(r"[_]+", " ", stem), lone_year)


def document_date(first_page: str, name: str, pdf_date: str = "") -> str:
    """A document's date: its title page's, else its file name's, else its PDF's (when made),
    else a year its title page or file name gives."""
    return (
        date_in(first_page, lone_year=False)
        or from_name(name, lone_year=False)
        or from_pdf(pdf_date)
        or date_in(first_page)
        or from_name(name)
    )


def from_pdf(value: str) -> str:
    """A PDF metadata date ("D:20240815093000Z") as ISO text."""
    found = _PDF_DATE.match(value.strip())
    if not found:
        return ""
    year, month, day = found.groups()
    if not (1980 <= int(year) <= 2049):
        return ""
    return "-".join(part for part in (year, month, day) if part)


def year_of(date: str) -> int:
    """The year of an ISO date text; 0 for none."""
    return int(date[:4]) if re.match(r"\d{4}", date or "") else 0


def shown(date: str) -> str:
    """A date as a citation shows it: "13 May 2025", "August 2024", "2024"."""
    parts = (date or "").split("-")
    names = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    if len(parts) == 3:
        return f"{int(parts[2])} {names[int(parts[1]) - 1]} {parts[0]}"
    if len(parts) == 2:
        return f"{names[int(parts[1]) - 1]} {parts[0]}"
    return parts[0]
