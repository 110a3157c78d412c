"""The `kb` command. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import click

from kb.errors import REBUILD, KbError, UsageError, printable, store_failure
from kb.settings import Settings

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a command a closed pipe stopped (128 + SIGPIPE)
# Copies of kb.search's RETRIEVALS names and MAX_K, so that `kb --help` does not import the search
# stack; tests/test_layout.py holds them equal to their sources.
RETRIEVAL_NAMES = (
    "bm25",
    "dense",
    "hybrid",
    "hybrid+vocabulary",
    "hybrid+vocabulary+agency",
    "rrf",
)
DEFAULT_RETRIEVAL = "hybrid+vocabulary+agency"
MAX_K = 100


class KbGroup(click.Group):
    """Turns the library's exceptions into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `kb search … | head` stopped reading: nothing to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the exit's flush does not fail again
            ctx.exit(EXIT_BROKEN_PIPE)
        except UsageError as error:
            click.echo(f"kb: {printable(str(error))}", err=True)
            ctx.exit(EXIT_USAGE)
        except (KbError, ValueError) as error:
            click.echo(f"kb: {printable(str(error))}", err=True)
            ctx.exit(EXIT_FAILURE)
        except sqlite3.DatabaseError as error:  # packs.sqlite on a full disk, or damaged
            folder = Settings.from_env().index_dir
            failure = store_failure(error, str(folder)) or KbError(f"{folder}: {error}")
            click.echo(f"kb: {printable(str(failure))}", err=True)
            ctx.exit(EXIT_FAILURE)
        except OSError as error:  # a folder or file the system refuses: "--index /etc/passwd"
            where = f": {error.filename}" if error.filename else ""
            click.echo(f"kb: {printable(f'{error.strerror or error}{where}')}", err=True)
            ctx.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            click.echo("kb: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _settings_epilog() -> str:
    described = Settings.describe()
    width = max(len(name) for name, _, _ in described)
    rows = "\n".join(
        f"  {name:<{width}} {help} (default: {default})" for name, default, help in described
    )
    return f"Settings come from these environment variables; flags override them.\n\n\b\n{rows}"


@click.group(cls=KbGroup, epilog=_settings_epilog(), context_settings={"max_content_width": 110})
@click.version_option(package_name="kb")
def cli() -> None:
    """Search safeguarding partnership reports, inspections and guidance, with citations."""


def _settings(**overrides) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None


corpus_option = click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(path_type=Path),
    help="Folder of reports [KB_CORPUS_DIR, corpus/].",
)
index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    help="Index folder [KB_INDEX_DIR, index/].",
)
chroma_option = click.option(
    "--chroma-url", help="Use a Chroma server at this URL [KB_CHROMA_URL]."
)


@cli.command()
@corpus_option
@index_option
@chroma_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build the index again from the corpus alone, reading nothing of the one served (for a "
    "damaged index); the trainers' packs are kept.",
)
def reindex(
    corpus_dir: Path | None, index_dir: Path | None, chroma_url: str | None, rebuild: bool
) -> None:
    """Bring the index in step with the corpus folder.

    New files are added, changed ones replaced, deleted ones removed; unchanged files are not
    embedded again. A file that cannot be read is named with the reason, the rest is indexed,
    and the exit code is 1. An index found damaged is built again from the corpus, as --rebuild
    does.

    Example: kb reindex --corpus corpus/ --index index/
    """
    from kb.embed import load_embedder, token_counter
    from kb.progress import Shown
    from kb.reindex import reindex as run

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, chroma_url=chroma_url)
    reporter = Shown(sys.stderr)
    started = time.perf_counter()
    try:
        summary = run(
            settings,
            lambda: load_embedder(settings.model, settings.embedder, settings.model_cache),
            token_counter(),
            progress=reporter,
            rebuild=rebuild,
        )
    finally:
        reporter.close()
    # Names are the corpus's own: written with escapes, so none can forge a line of this summary.
    for name, reason in summary.failed:
        click.echo(f"failed: {printable(name)}: {reason}", err=True)
    for name, reason in summary.skipped:
        click.echo(f"skipped: {printable(name)}: {reason}", err=True)
    for name in summary.unnamed:
        click.echo(
            f"no organisation: {printable(name)}: kb found none in it; name one in the corpus's "
            "documents.csv (see the README, 'Organisations, titles and dates')",
            err=True,
        )
    for name in summary.uncorrected:
        click.echo(f"documents.csv names {printable(name)}, which is not in the corpus", err=True)
    unreadable = {name for name, _ in summary.failed}
    for name, kept in summary.duplicates:
        outcome = "which could not be read either" if kept in unreadable else "so only that is read"
        click.echo(
            f"duplicate: {printable(name)} is the same file as {printable(kept)}, {outcome}",
            err=True,
        )
    for name, agency, headings in summary.doubts:
        shown = "; ".join(headings[:5]) + ("; …" if len(headings) > 5 else "")
        click.echo(
            f"check: {printable(name)}: every passage is cited to {agency or 'no agency'}, though "
            f"its headings look like several organisations' ({printable(shown)}); see the README, "
            "'Agencies'",
            err=True,
        )
    if summary.recovered:
        found = printable(summary.recovered.removesuffix(f": {REBUILD}"))  # what to run: done
        click.echo(
            "The index could not be read, so it was built again from the corpus (the trainers' "
            f"packs are kept): {found}."
        )
    elif rebuild:
        click.echo("The index was built again from the corpus, as --rebuild asks.")
    elif summary.rebuilt:
        click.echo("The index was built by another model or chunker version, so it was rebuilt.")
    took = time.perf_counter() - started
    if not (summary.added or summary.updated or summary.removed):
        state = (
            f"Nothing changed, but {_count(len(summary.failed), 'file')} could not be read (named "
            "above); the rest of the index is up to date"
            if summary.failed
            else "Nothing changed: the index is up to date"
        )
        click.echo(f"{state}, nothing embedded ({summary.line()}; {took:.1f} s).")
    else:
        click.echo(
            f"Indexed {settings.chroma_url or settings.index_dir}: "
            f"{summary.line()} in {took:.1f} s."
        )
    if summary.failed:
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("query", required=False)
@click.option(
    "-k", "k", type=click.IntRange(1, MAX_K), default=None, help="How many passages [KB_TOP_K, 10]."
)
@click.option("--agency", help="Only passages from this agency (a part of its name will do).")
@click.option("--document", help="Only passages from this document (its file name).")
@click.option(
    "--year",
    "years",
    type=click.IntRange(1900, 2199),
    multiple=True,
    help="Only documents dated in this year (repeat for several).",
)
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Only this collection, a folder under the corpus (repeat for several; 'all' for every "
    "one) [KB_COLLECTIONS, all].",
)
@click.option(
    "--batch",
    "batch_file",
    type=click.File("r", encoding="utf-8"),
    help="Answer one query per line of FILE ('-' for stdin).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query, one line each.")
@index_option
@chroma_option
def search(
    query, k, agency, document, years, collections, batch_file, as_json, index_dir, chroma_url
) -> None:
    """Find the passages that answer QUERY, cited by agency, document, page and section.

    Examples:

      kb search "what does the hospital do for DA out of hours?"

      kb search --agency ELFT -k 5 "trauma informed training" --json

      kb search --batch queries.txt --json
    """
    if (query is None) == (batch_file is None):
        raise UsageError("give a QUERY or --batch FILE (one of the two)")
    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    k = k or settings.top_k
    queries = (
        [query]
        if batch_file is None
        else [line.rstrip("\n") for line in batch_file if line.strip()]
    )
    if batch_file is None:
        from kb.search import clean_query

        clean_query(query, settings.max_query_chars)  # refuse a bad query before loading anything

    searcher = _searcher(settings)
    failures = 0
    for text in queries:
        try:
            results = searcher.search(
                text,
                k=k,
                agency=agency,
                document=document,
                years=years,
                collections=_collections(collections),
            )
        except UsageError as error:
            if batch_file is None:
                raise
            failures += 1
            _print_error(text, error, as_json)
            continue
        if as_json:
            click.echo(json.dumps(results.as_dict(), ensure_ascii=False))
        else:
            _print_results(results, searcher.answer(results))
    if failures:
        sys.exit(EXIT_USAGE)


@cli.command("eval")
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Golden queries, one JSON object per line [the project's golden set, in kb/data].",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(10, MAX_K),
    default=10,
    show_default=True,
    help="Passages searched per query (MRR@10 needs 10); a miss's rank is shown within them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option(
    "--retrieval",
    type=click.Choice(list(RETRIEVAL_NAMES)),
    default=DEFAULT_RETRIEVAL,
    show_default=True,
    help="Which parts of the ranking to use.",
)
@click.option(
    "--compare", is_flag=True, help="Print a Markdown table with each kind of retrieval in turn."
)
@click.option(
    "--check/--no-check",
    default=None,
    help=(
        "Exit 1 below the thresholds in kb/data/thresholds.toml [on for the project's golden set]."
    ),
)
@index_option
@chroma_option
def evaluate(queries_file, k, as_json, retrieval, compare, check, index_dir, chroma_url) -> None:
    """Measure retrieval on golden queries: hit@1, hit@5, MRR@10, page accuracy, and each miss.

    Each line of the file: {"id", "query", "gold": [phrases the right passage holds], optional
    "agency" (part of its name), "doc" (file name) and "page"}; each given field must match for a
    passage to count. On the project's golden set (or with --check), exits 1 when a figure is
    below its threshold in kb/data/thresholds.toml.

    Examples:

      kb eval

      kb eval --compare --queries ../shared/eval/dev_queries.jsonl
    """
    from kb.evaluate import GOLDEN, below, load_queries, load_thresholds
    from kb.evaluate import evaluate as run
    from kb.search import RETRIEVALS

    if compare and (as_json or check or retrieval != DEFAULT_RETRIEVAL):
        raise UsageError(
            "--compare prints every kind of retrieval as a table: "
            "use it without --json, --check and --retrieval"
        )
    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    queries = load_queries(queries_file or GOLDEN)
    searcher = _searcher(settings)
    if compare:
        click.echo(
            f"| Retrieval | hit@1 | hit@5 | MRR@10 | page accuracy |  ({len(queries)} queries)"
        )
        click.echo("|---|---|---|---|---|")
        for name, parts in RETRIEVALS.items():
            figures = run(searcher.using(parts), queries, k=k).figures()
            click.echo(
                f"| {name} | {figures['hit@1']:.2f} | {figures['hit@5']:.2f} | "
                f"{figures['mrr@10']:.2f} | "
                f"{_figure(figures['page_accuracy'])} |"
            )
        return
    report = run(searcher.using(RETRIEVALS[retrieval]), queries, k=k)
    figures = report.figures()
    if check is None:
        check = queries_file is None and retrieval == DEFAULT_RETRIEVAL
    failing = below(figures, load_thresholds()) if check else []
    if as_json:
        click.echo(json.dumps({**figures, "below_thresholds": failing}))
    else:
        for miss in report.misses:
            first = miss["first"]
            instead = (
                f"{first.agency} | {first.document} | page {first.page}: {first.text[:70]!r}"
                if first
                else "nothing"
            )
            found = f"rank {miss['rank']}" if miss["rank"] else "not in the top k"
            click.echo(
                f"miss {miss['id']} ({found}): {miss['query']!r}\n     first instead: {instead}"
            )
        click.echo(
            f"{figures['queries']} queries: hit@1 {figures['hit@1']:.2f}  "
            f"hit@5 {figures['hit@5']:.2f}  "
            f"MRR@10 {figures['mrr@10']:.2f}  page accuracy {_figure(figures['page_accuracy'])}"
        )
    if failing:
        click.echo(
            f"kb: below the thresholds in kb/data/thresholds.toml: {'; '.join(failing)}",
            err=True,
        )
        sys.exit(EXIT_FAILURE)


def _figure(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


@cli.command()
@click.option(
    "--host", help="Address to listen on [KB_HOST, 127.0.0.1]; any other lets other machines in."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on [KB_PORT, 5000]; 0 picks a free one.",
)
@corpus_option
@index_option
@chroma_option
def serve(host, port, corpus_dir, index_dir, chroma_url) -> None:
    """Serve the search page and its JSON API, with the index and model loaded once.

    Runs on waitress until Ctrl-C. Each request's path is logged, never its query string, so
    what practitioners search for is not recorded. Changing packs needs a signed-in trainer
    (kb user add) when the page is reachable beyond this machine: see KB_SIGN_IN.

    Example: kb serve --port 8000
    """
    import logging

    from kb.users import Users, sign_in_required
    from web import create_app, follow_reindex
    from web.server import make_server

    settings = _settings(
        host=host, port=port, corpus_dir=corpus_dir, index_dir=index_dir, chroma_url=chroma_url
    )
    # Before the index and the model load: a refusal comes at once.
    if (
        sign_in_required(settings)
        and not settings.trusted_user_header
        and not Users(settings.index_dir).accounts()
    ):
        click.echo(
            "kb: packs can be changed by signed-in trainers only, and there are no accounts "
            "yet: add one with kb user add NAME (searching and reading need none).",
            err=True,
        )
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("kb.web").setLevel(logging.INFO)
    click.echo("Loading the index and the model…", err=True)
    app = create_app(settings)
    follow_reindex(
        app, settings
    )  # a reindex's new index is served once complete, without a restart
    try:
        server = make_server(app, settings)
    except OSError as error:
        raise KbError(
            f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}"
        ) from None
    listening = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)
    ]
    for address, bound_port in listening:
        shown = f"[{address}]" if ":" in str(address) else address
        click.echo(f"Serving the search page at http://{shown}:{bound_port}/ (Ctrl-C to stop)")
    try:
        server.run()
    finally:
        server.close()


format_option = click.option(
    "--format",
    "format_name",
    metavar="md|csv|docx",
    help="Markdown, CSV or Word [the suffix of FILE].",
)
output_option = click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="FILE",
    help="File to write ('-' for standard output).",
)


@cli.command("export")
@click.option("--query", "-q", help="What to search for.")
@click.option(
    "--theme", help="A theme from kb/data/themes.tsv instead of a query (its name, e.g. neglect)."
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, MAX_K),
    default=None,
    help="How many passages [KB_TOP_K, 10]; with --by-agency, how many each agency [3].",
)
@click.option("--agency", help="Only passages from this agency (a part of its name will do).")
@click.option("--document", help="Only passages from this document (its file name).")
@click.option(
    "--by-agency",
    is_flag=True,
    help="Each agency's best passages under its own heading, as the compare page.",
)
@format_option
@output_option
@index_option
@chroma_option
def export_search(
    query, theme, k, agency, document, by_agency, format_name, output, index_dir, chroma_url
) -> None:
    """Export a search's passages with their citations, as Markdown, CSV or Word.

    Each passage carries its agency, report title, section and page; a list of sources closes
    the file. With --by-agency, the best passages of each agency the query reaches, side by side
    in the compare page, are grouped under the agency's name.

    Examples:

      kb export --query "neglect screening tool" -k 5 --format docx -o neglect.docx

      kb export --theme neglect --by-agency -o neglect-by-agency.md
    """
    from kb.explore import PER_AGENCY, compare_agencies, find_theme
    from kb.export import describe_comparison, describe_search, find_format, render, sheet
    from kb.packs import unsaved
    from kb.search import clean_query

    if (query is None) == (theme is None):
        raise UsageError("give --query Q or --theme NAME (one of the two)")
    if by_agency and (agency or document):
        raise UsageError("--by-agency compares every agency; leave out --agency and --document")
    _check_output(output)
    format_name = find_format(format_name, None if output == "-" else output)
    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    found_theme = find_theme(theme) if theme else None
    query = clean_query(found_theme.query if found_theme else query, settings.max_query_chars)
    searcher = _searcher(settings)
    name = found_theme.title if found_theme else query
    if by_agency:
        comparison = compare_agencies(searcher, query, k or PER_AGENCY)
        hits, description = comparison.hits, describe_comparison(query, len(comparison.agencies))
    else:
        hits = searcher.search(query, k=k or settings.top_k, agency=agency, document=document).hits
        description = describe_search(query, len(hits), agency, document)
    _write(
        output,
        render(sheet(name, unsaved(name, hits).passages, description, by_agency), format_name),
    )
    if output != "-":
        click.echo(f"Wrote {_count(len(hits), 'passage')} to {output}.", err=True)


@cli.group()
def pack() -> None:
    """Session packs: passages saved from the search page, with the trainer's notes, in their order.

    Packs live in packs.sqlite in the index folder; a reindex keeps them, and marks a passage whose
    report changed as possibly out of date.

    A name goes in quotes, as one argument; one that begins with "-" goes after "--", or it would
    read as an option:

    \b
    kb pack show 'DA: session #2'
    kb pack show -- '-1 draft'
    """


@pack.command("list")
@index_option
def pack_list(index_dir) -> None:
    """List the packs, the most recently changed first.

    Example: kb pack list
    """
    from kb.packs import UNKNOWN_OWNER

    settings = _settings(index_dir=index_dir)
    packs = _packs(settings)
    listed, deleted = packs.summaries(), packs.deleted()
    if not listed and not deleted:
        click.echo(
            f"No packs yet in {settings.index_dir.resolve()} (packs are kept beside the index: "
            "--index or KB_INDEX_DIR names another). Add passages to one from the search page "
            "(kb serve)."
        )
    for found in listed:
        click.echo(
            f"{found.name}\t{_count(found.passages, 'passage')}\tchanged {_minute(found.updated)} "
            f"UTC\towner {printable(found.owner or UNKNOWN_OWNER)}"
        )
    if deleted:
        click.echo("Deleted, and can be restored with kb pack restore NAME:")
    for gone in deleted:
        click.echo(
            f"{gone.name}\t{_count(gone.passages, 'passage')}\tdeleted {_minute(gone.deleted)} "
            f"UTC by {printable(gone.deleted_by or UNKNOWN_OWNER)}\tuntil {_minute(gone.until)} UTC"
        )


@pack.command("history")
@click.argument("name")
@index_option
def pack_history(name, index_dir) -> None:
    """Print who changed a pack, and how, the oldest first: one line each, times in UTC.

    A deleted pack's history is kept until it is purged, so it can be read before restoring it.

    Example: kb pack history "Neglect level 3"
    """
    from kb.packs import UNKNOWN_OWNER

    for change in _packs(_settings(index_dir=index_dir)).history(name):
        click.echo(
            f"{_minute(change.at)} UTC\t{printable(change.who or UNKNOWN_OWNER)}\t"
            f"{printable(change.what)}"
        )


@pack.command("restore")
@click.argument("name")
@index_option
def pack_restore(name, index_dir) -> None:
    """Bring back a deleted pack, as the machine's user. Deleted packs are kept for
    KB_DELETED_PACK_DAYS (30) days.

    If a pack in use has taken its name meanwhile, it comes back as "NAME (restored)".

    Example: kb pack restore "Neglect level 3"
    """
    from kb.users import local_user

    restored = _packs(_settings(index_dir=index_dir)).restore(name, who=local_user())
    if restored.casefold() == " ".join(name.split()).casefold():
        click.echo(f"Restored the pack {restored!r}.")
    else:
        click.echo(f"Restored the pack as {restored!r}: a pack in use is called {name!r}.")


def _packs(settings: Settings):
    from kb.packs import Packs

    return Packs(settings.index_dir, settings.deleted_pack_days)


def _minute(iso: str) -> str:
    """An ISO 8601 time to the minute: "2026-12-06 14:05"."""
    return iso[:16].replace("T", " ")


@pack.command("show")
@click.argument("name")
@index_option
@chroma_option
def pack_show(name, index_dir, chroma_url) -> None:
    """Print a pack's passages in order, each with its citation and note.

    Example: kb pack show "Neglect level 3"
    """
    from kb.passage import NO_AGENCY

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    found, checked = _pack(settings, name)
    click.secho(
        f"{found.name}: {len(found.passages)} passage{'' if len(found.passages) == 1 else 's'}",
        bold=True,
    )
    if not checked:
        click.echo(
            "(The index cannot be opened, so whether each passage is up to date is not checked.)"
        )
    for number, passage in enumerate(found.passages, start=1):
        click.echo()
        click.secho(
            f"{number}. {passage.agency or NO_AGENCY} | {passage.document} | {passage.pages}",
            bold=True,
        )
        if passage.section:
            click.echo(f"   {passage.section}")
        if passage.out_of_date:
            click.echo(
                "   May be out of date: the report has changed since this passage was saved."
            )
        for line in passage.text.splitlines():
            click.echo(
                textwrap.fill(line, width=100, initial_indent="   ", subsequent_indent="     ")
            )
        if passage.note:
            click.echo(
                textwrap.fill(
                    f"Note: {passage.note}",
                    width=100,
                    initial_indent="   ",
                    subsequent_indent="     ",
                )
            )


@pack.command("export")
@click.argument("name")
@format_option
@output_option
@index_option
@chroma_option
def pack_export(name, format_name, output, index_dir, chroma_url) -> None:
    """Export a pack as Markdown, CSV or Word: each passage cited, with its note; the sources at the
    end.

    Example: kb pack export "Neglect level 3" --format docx -o neglect.docx
    """
    from kb.export import describe_pack, find_format, render, sheet

    _check_output(output)
    format_name = find_format(format_name, None if output == "-" else output)
    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    found, _ = _pack(settings, name)
    count = len(found.passages)
    _write(output, render(sheet(found.name, found.passages, describe_pack(count)), format_name))
    if output != "-":
        click.echo(f"Wrote {_count(count, 'passage')} to {output}.", err=True)


def _pack(settings: Settings, name: str):
    """(the pack with its passages checked against the index, whether they could be checked)."""
    from kb.errors import IndexMissing
    from kb.packs import check
    from kb.store import Published

    found = _packs(settings).get(name)
    try:
        store = Published.open(settings.index_dir, settings.chroma_url)
    except IndexMissing:
        return found, False
    try:
        return check(found, store), True
    finally:
        store.close()


@cli.group()
def user() -> None:
    """Trainers' accounts, for signing in to change packs on a page served beyond this machine.

    Kept in users.sqlite in the index folder: each name with an argon2id hash of its password,
    never the password. Searching and reading need no account.
    """


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input, for scripts.",
)


@user.command("add")
@click.argument("name")
@password_stdin_option
@index_option
def user_add(name, password_stdin, index_dir) -> None:
    """Make an account for a trainer; asks for the password twice (at least 12 characters).

    Examples:

      kb user add alice

      printf '%s\\n' "$PASSWORD" | kb user add alice --password-stdin
    """
    from kb.users import Users, clean_user_name

    users = Users(_settings(index_dir=index_dir).index_dir)
    name = clean_user_name(name)  # before the password is asked for
    added = users.add(name, _password(password_stdin))
    click.echo(f"Added {added!r}: they can sign in at /sign-in on the search page.")


@user.command("password")
@click.argument("name")
@password_stdin_option
@index_option
def user_password(name, password_stdin, index_dir) -> None:
    """Give an account a new password; its sign-ins end.

    Example: kb user password alice
    """
    from kb.users import Users

    users = Users(_settings(index_dir=index_dir).index_dir)
    users.account(name)  # an unknown name is refused before the password is asked for
    changed = users.set_password(name, _password(password_stdin))
    click.echo(f"Changed the password of {changed!r}; they are signed out everywhere.")


@user.command("remove")
@click.argument("name")
@index_option
def user_remove(name, index_dir) -> None:
    """Delete an account; its sign-ins end. The packs it made and their history stay.

    Example: kb user remove alice
    """
    from kb.users import Users

    removed = Users(_settings(index_dir=index_dir).index_dir).remove(name)
    click.echo(f"Removed the account {removed!r}.")


@user.command("list")
@index_option
def user_list(index_dir) -> None:
    """List the accounts, with when each was made and its password last set (UTC).

    Example: kb user list
    """
    from kb.users import Users

    settings = _settings(index_dir=index_dir)
    accounts = Users(settings.index_dir).accounts()
    if not accounts:
        click.echo(
            f"No accounts yet in {settings.index_dir.resolve()}: add one with kb user add NAME."
        )
    for account in accounts:
        click.echo(
            f"{account.name}\tadded {_minute(account.created)} UTC\t"
            f"password set {_minute(account.changed)} UTC"
        )


def _password(from_stdin: bool) -> str:
    """A new password: the first line of standard input, or typed twice, unseen."""
    from kb.users import check_password

    if from_stdin:
        return check_password(sys.stdin.readline().rstrip("\r\n"))
    return check_password(
        click.prompt(
            "Password (at least 12 characters; three or four unrelated words will do)",
            hide_input=True,
            confirmation_prompt="Type it again",
        )
    )


def _collections(named: tuple[str, ...]) -> list[str] | None:
    """--collection as the searcher takes it: None for the default, [] for every collection."""
    if not named:
        return None
    return [] if "all" in named else list(named)


def _check_output(output: str) -> None:
    """Refuse an output path that cannot be written before any searching is done."""
    if output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"cannot write {output}: it is a folder; give a file name")
    if not path.parent.is_dir():
        why = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise UsageError(f"cannot write {output}: {path.parent} {why}")


def _write(output: str, data: bytes) -> None:
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(output).write_bytes(data)
    except OSError as error:
        raise KbError(f"cannot write {output}: {error.strerror or error}") from None


def _searcher(settings: Settings):
    """A searcher for one command: not warmed up, since the command's own queries are its first."""
    from kb.search import open_searcher

    return open_searcher(settings, warm=False)


def _print_error(query: str, error: Exception, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps({"query": query, "error": str(error), "results": []}, ensure_ascii=False)
        )
    else:
        click.echo(f"kb: {query[:60]!r}: {error}", err=True)


def _print_results(results, answer=None) -> None:
    from kb.dates import shown
    from kb.passage import NO_AGENCY

    hits = results.hits
    click.secho(
        f"{_count(len(hits), 'passage')} for {results.query!r} ({results.took_ms:.0f} ms)",
        bold=True,
    )
    if results.expanded:
        click.echo(f"Also searched for: {', '.join(results.expanded)}")
    if not hits:
        click.echo("No passages found. Try fewer or more general words, or drop --agency.")
    elif results.weak:
        click.echo(
            "No passage answers this well: these are only the closest in meaning. Try other words."
        )
    elif answer is not None:
        cited = answer.hit
        click.echo()
        click.secho(f"Answer: “{answer.text}”", bold=True)
        click.echo(
            f"   ({cited.agency or NO_AGENCY} | {cited.document} | {cited.pages}; passage 1)"
        )
    for rank, hit in enumerate(hits, start=1):
        click.echo()
        dated = f" | {shown(hit.date)}" if hit.date else ""
        click.secho(
            f"{rank}. {hit.agency or NO_AGENCY} | {hit.document} | {hit.pages}{dated}", bold=True
        )
        if hit.section:
            click.echo(f"   {hit.section}")
        if hit.newer:
            click.echo(f"   A newer edition of this document is indexed: {shown(hit.newer)}.")
        if hit.standard:
            click.echo(f"   Standard text: these words stand in {hit.standard} documents.")
        for line in hit.text.splitlines():
            click.echo(
                textwrap.fill(line, width=100, initial_indent="   ", subsequent_indent="     ")
            )


def _count(number: int, noun: str) -> str:
    """'1 passage', '3 passages'."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def main() -> None:
    cli(prog_name="kb")


if __name__ == "__main__":
    main()
