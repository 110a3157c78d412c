"""The page as a practitioner uses it: a real `kb serve` on the real index, in Debian's headless
Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import BRADFORD, CORPUS, FOUNDING, INFO_SHARING, ROOT, wait_for
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.slow

KB = str(Path(sys.executable).with_name("kb"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
MISSION = "what does the hospital do for DA out of hours?"
PASTED_ADDRESS = (
    "https://www.gov.uk/government/publications/working-together-to-safeguard-children--2"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_index):
    """`kb serve` on a free port, over a copy of the real corpus's index (the real model's)."""
    yield from _serve(tmp_path_factory.mktemp("browser"), real_index)


def _serve(root: Path, real_index, password: str = "", **variables: str):
    """Run `kb serve` over a copy of the real index in root, with these environment variables
    (and an account "trainer" with this password), until the test module is done."""
    index, env, _ = real_index
    shutil.copytree(index, root / "index")  # the trainers' tests here write packs into it
    env = {**env, **variables}
    if password:
        subprocess.run(
            [KB, "user", "add", "trainer", "--password-stdin", "--index", str(root / "index")],
            input=password + "\n",
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        )
    out, err = root / "serve.out", root / "serve.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [KB, "serve", "--port", "0", "--index", str(root / "index"), "--corpus", str(CORPUS)],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=ROOT,
        )
    try:

        def printed_url():
            if process.poll() is not None:
                pytest.fail(f"kb serve exited with {process.returncode}: {err.read_text()}")
            found = re.search(r"http://127\.0\.0\.1:\d+/", out.read_text())
            return found and found.group(0)

        url = wait_for(printed_url, "kb serve to print its URL")
        wait_for(lambda: _health(url), "/healthz to answer ok")
        yield {"url": url, "log": err}
    finally:
        process.terminate()
        process.wait(timeout=30)


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=5) as response:
            answer = json.load(response)
    except (urllib.error.URLError, ConnectionError):
        return None
    return answer if answer.get("status") == "ok" else None


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; console errors (a CSP violation among them) fail the test; a screenshot is
    kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors = []
    tab.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    if tab.url.startswith("http"):
        name = re.sub(r"[^\w.-]+", "-", request.node.name)
        tab.screenshot(path=ARTIFACTS / f"{name}.png")
    context.close()
    assert not errors, errors


def search(page, server, query: str, **filters):
    page.goto(server["url"] + "?" + urlencode({"q": query, **filters}))


def hit_fields(hit) -> dict:
    return {name: hit.locator(f".{name}").inner_text() for name in ("agency", "section", "page")}


def save_to(hit, pack: str) -> None:
    """Open the passage's one "Save" and type the pack's name; its "Add" button is then in reach."""
    hit.locator("details.save > summary").click()
    hit.get_by_label("Add to pack").fill(pack)


def test_health_counts_the_real_passages(server):
    assert _health(server["url"])["chunks"] > 500


def test_mission_query_finds_the_domestic_abuse_clinic_with_its_citation(page, server):
    page.goto(server["url"])
    page.get_by_label("Search the reports").press_sequentially(MISSION)
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    assert "q=what+does+the+hospital" in page.url
    assert "domestic abuse" in page.locator(".expanded").inner_text()
    top = page.locator("li.hit").all()[:3]
    clinics = [
        hit for hit in top if "Domestic Abuse Clinic" in hit.locator(".passage").inner_text()
    ]
    assert clinics, [hit.inner_text()[:120] for hit in top]
    cited = {
        "agency": "Bedfordshire Hospitals Foundation Trust",
        "section": "Domestic Abuse",
        "page": "pages 1–2",
    }
    assert hit_fields(clinics[0]) == cited
    assert clinics[0].locator("mark", has_text="Abuse").count()  # the query's words are marked
    # The answer first: the clinic's sentence, quoted, with its citation and a link into the report.
    answer = page.locator(".answer")
    expect(answer.locator("blockquote")).to_contain_text(
        "Finally the Trust has a Domestic Abuse Clinic available each week."
    )
    expect(answer.locator(".answer-citation")).to_contain_text("Bedfordshire Hospitals")
    assert answer.get_by_role("link").get_attribute("href").startswith("/documents/")


@pytest.mark.parametrize("width", [1366, 390])
def test_the_answer_comes_first_on_any_screen(page, server, width):
    page.set_viewport_size({"width": width, "height": 900})
    search(page, server, MISSION)
    answer = page.locator(".answer")
    expect(answer).to_be_visible()
    box, first = answer.bounding_box(), page.locator("li.hit").first.bounding_box()
    assert box and first and box["y"] < first["y"]  # above the passages
    assert box["x"] + box["width"] <= width  # no sideways scrolling
    assert_accessible(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_each_result_is_headed_by_whose_it_is_and_cited_plainly_with_one_save(page, server, width):
    page.set_viewport_size({"width": width, "height": 900})
    search(page, server, MISSION)
    hits = page.locator("li.hit").all()
    headings = [hit.locator(".hit-title").inner_text() for hit in hits]
    # Headings tell results apart: never the document's title, never the same twice in a row.
    titles = {hit.locator(".cite .document").inner_text() for hit in hits}
    assert not titles & set(headings), headings
    assert all(one != two for one, two in zip(headings, headings[1:])), headings
    first = hits[0]
    assert headings[0] == f"{hit_fields(first)['agency']}: {hit_fields(first)['section']}"
    # The citation is plainly visible: agency, section, document, date and page in every result.
    for hit in hits:
        fields = hit_fields(hit)
        assert all(fields.values()), fields
        assert hit.locator(".cite .date").inner_text()
        assert hit.locator(".cite").evaluate("element => getComputedStyle(element).fontSize") == (
            hit.locator(".passage").evaluate("element => getComputedStyle(element).fontSize")
        )
    # One "Save" per passage, its pack box hidden until it is opened, with no script needed.
    assert page.locator("details.save").count() == len(hits)
    expect(first.get_by_label("Add to pack")).to_be_hidden()
    first.locator("details.save > summary").click()
    expect(first.get_by_label("Add to pack")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert_accessible(page)


def test_filters_come_before_the_results_folded_on_a_phone_and_open_beside_them_on_a_desktop(
    page, server
):
    page.set_viewport_size({"width": 390, "height": 900})
    search(page, server, MISSION)
    toggle = page.locator("details.filter-toggle > summary")
    first_hit = page.locator("li.hit").first
    assert toggle.bounding_box()["y"] < first_hit.bounding_box()["y"]  # before the results
    expect(page.locator(".facets a").first).to_be_hidden()  # folded until asked for
    toggle.click()  # a <details>: no JavaScript needed
    expect(page.locator(".facets a").first).to_be_visible()
    assert_accessible(page)

    page.set_viewport_size({"width": 1366, "height": 900})
    search(page, server, MISSION)
    expect(toggle).to_be_hidden()
    facets = page.locator(".facets")
    expect(facets.locator("a").first).to_be_visible()  # open, beside the results
    assert facets.bounding_box()["x"] > first_hit.bounding_box()["x"] + 300
    # A few tab stops from the top: the skip link, the box, the button, then the first filter.
    stops = 0
    while stops < 12 and not page.evaluate("document.activeElement.closest('.facets') !== null"):
        page.keyboard.press("Tab")
        stops += 1
    assert stops <= 8, stops
    assert_accessible(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_a_query_nothing_answers_says_so(page, server, width):
    page.set_viewport_size({"width": width, "height": 900})
    search(page, server, "zzzzqqq xylophone")
    expect(page.locator("#results-heading")).to_have_text(
        "No passage answers “zzzzqqq xylophone” well"
    )
    expect(page.locator(".closest-only")).to_contain_text("none is a good match")
    assert "Took " not in page.locator("#results").inner_text()
    assert_accessible(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_a_refused_search_is_summarised_first_and_its_link_goes_to_the_field(
    browser, server, width
):
    # A context of its own: the browser logs the 400 and 404 to the console.
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(server["url"] + "?" + urlencode({"q": "x" * 1200}))
        summary = tab.locator(".error-summary")
        expect(summary.locator("h2")).to_have_text("There is a problem")
        assert summary.bounding_box()["y"] < tab.locator("h1").bounding_box()["y"]
        summary.get_by_role("link", name=re.compile("^Your search is 1,200 characters")).click()
        expect(tab.get_by_label("Search the reports")).to_be_focused()
        assert_accessible(tab)

        tab.goto(server["url"] + "?" + urlencode({"q": "neglect", "agency": "Police"}))
        summary.get_by_role("link", name=re.compile("No agency in the reports")).click()
        expect(tab.locator("#filter-agency")).to_be_focused()
        with tab.expect_navigation():
            tab.locator("#filter-agency .choices a", has_text="ELFT").click()
        expect(tab.locator("li.hit .agency").first).to_have_text("ELFT")
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        assert_accessible(tab)
    finally:
        context.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_a_pack_name_that_cannot_be_is_summarised_and_kept_to_mend(browser, server, width):
    # A context of its own: the browser logs the 400 to the console.
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(server["url"] + "packs")
        box = tab.get_by_label("Start a new pack")
        box.evaluate("input => { input.removeAttribute('maxlength'); }")  # as an old browser would
        box.fill("Neglect L3 12/03/2027 #2: " + "x" * 40)
        with tab.expect_navigation():
            tab.get_by_role("button", name="Create").click()
        summary = tab.locator(".error-summary")
        summary.get_by_role("link", name="The pack’s name must be 60 characters or fewer").click()
        expect(box).to_be_focused()
        expect(box).to_have_value("Neglect L3 12/03/2027 #2: " + "x" * 40)
        assert_accessible(tab)
        box.fill("Neglect L3 12/03/2027 #2: DA?")
        with tab.expect_navigation():
            tab.get_by_role("button", name="Create").click()
        expect(tab.locator("h1")).to_have_text("Neglect L3 12/03/2027 #2: DA?")
        assert_accessible(tab)
    finally:
        context.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_lower_case_acronyms_are_read_and_no_markup_footnote_or_list_comes_first(
    page, server, width
):
    page.set_viewport_size({"width": width, "height": 900})
    search(page, server, "what does the hosp do for da ooh")
    expanded = page.locator(".expanded").inner_text()
    assert all(word in expanded for word in ("domestic abuse", "out of hours", "hospital"))
    expect(page.locator("li.hit .agency").first).to_have_text(
        "Bedfordshire Hospitals Foundation Trust"
    )
    passages = "\n".join(page.locator("li.hit .passage").all_inner_texts())
    assert "**" not in passages and "\n- " not in f"\n{passages}"  # Markdown's marks are gone
    assert_accessible(page)

    search(page, server, "children off-rolled / home educated what must the school do")
    first = page.locator("li.hit").first
    assert not re.match(r"\d{1,3} ", first.locator(".passage").inner_text())  # not a footnote
    assert not first.locator(".passage").inner_text().startswith("• ")  # nor a list of titles
    expect(page.locator(".answer blockquote")).to_contain_text("home")
    assert_accessible(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_a_missing_page_is_a_plain_page_not_found(browser, server, width):
    # A context of its own: the browser logs the 404 to the console, which the page fixture fails.
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        response = tab.goto(server["url"] + "no-such-page")
        assert response is not None and response.status == 404
        expect(tab.locator("h1")).to_have_text("Page not found")
        expect(tab.locator("main")).to_contain_text("If you typed the web address")
        assert_accessible(tab)
    finally:
        context.close()


def test_an_agency_facet_narrows_to_that_agency(page, server):
    search(page, server, MISSION)
    first = page.locator("li.hit .agency").first.inner_text()
    facets = page.locator(".facets ul").first.locator("a")
    other = next(link for link in facets.all() if not link.inner_text().startswith(first))
    agency = re.sub(r"\s*\(\d+\)$", "", other.inner_text())
    with page.expect_navigation():
        other.click()
    assert set(page.locator("li.hit .agency").all_inner_texts()) == {agency}
    assert agency in page.locator(".facets a[aria-current=true]").first.inner_text()
    assert "agency=" in page.url


def test_open_on_a_pdf_result_shows_the_pdf_at_its_page(page, server):
    search(page, server, "Bradford inspection leaders")
    bradford = page.locator(".facets a", has_text="Inspection of Bradford")
    with page.expect_navigation():
        bradford.click()
    assert set(page.locator("li.hit .agency").all_inner_texts()) == {
        "Bradford Children and Families Trust"
    }
    hit = page.locator("li.hit").first
    cited = re.search(r"\d+", hit.locator(".page").inner_text()).group(
        0
    )  # "page N" or "pages N–M": N
    link = hit.get_by_role("link", name=re.compile(r"Open the PDF at page \d+"))
    with page.expect_response(lambda response: "/documents/" in response.url) as opened:
        link.click()
    response = opened.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    page.wait_for_url(re.compile(r"#page=\d+$"))
    assert page.url.endswith(f"/documents/{BRADFORD.name}#page={cited}")


def test_open_on_a_text_result_scrolls_to_the_passage(page, server):
    search(page, server, MISSION, k=3)
    hit = next(
        hit for hit in page.locator("li.hit").all() if "Domestic Abuse Clinic" in hit.inner_text()
    )
    link = hit.get_by_role("link", name=re.compile("Open the passage"))
    anchor = link.get_attribute("href").split("#")[1]
    assert anchor.startswith("chunk-")
    with page.expect_navigation():
        link.click()
    assert page.url.endswith("/text#" + anchor)
    target = page.locator(":target")
    assert target.get_attribute("id") == anchor
    assert "Domestic Abuse Clinic" in target.inner_text()
    box, height = target.bounding_box(), page.viewport_size["height"]
    assert 0 <= box["y"] < height  # scrolled into view, not left at the top of the report


def focused(page) -> dict:
    return page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el);
            return {id: el.id, tag: el.tagName, text: el.innerText, cls: el.className,
                    outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                    href: el.getAttribute('href')};
        }"""
    )


def test_keyboard_alone_reaches_the_box_the_button_and_the_results_with_visible_focus(page, server):
    search(page, server, MISSION)
    first_link = page.locator("li.hit a").first.get_attribute("href")
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(focused(page))
    skip, home, compare, packs, box, button, first_filter = order
    assert skip["text"] == "Skip to results" and skip["href"] == "#results"
    assert home["text"] == "Safeguarding reports search" and home["href"] == "/"
    assert (compare["href"], packs["href"]) == ("/compare", "/packs")
    assert box["id"] == "q"
    assert button["tag"] == "BUTTON" and button["text"] == "Search"
    # The filters come before the results, in reach; the skip link passes them (below).
    assert first_filter["href"].startswith("/?q=") and "agency=" in first_filter["href"]
    for element in order:
        assert element["outline"] != "none" and element["width"] >= 2, element
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "keyboard-focus-on-first-result.png")

    # The skip link itself: from the top, Tab and Enter, and the next Tab is the first result's
    # link (the answer's, which quotes the first passage and links where its "open" does).
    page.goto(page.url.split("#")[0])
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["href"] == first_link


@pytest.mark.parametrize(
    "path",
    [
        "",
        "?" + urlencode({"q": MISSION}),
        f"documents/{quote(FOUNDING.name)}/text",
        "compare?theme=neglect",
    ],
    ids=["start", "results", "text-view", "compare"],
)
def test_readable_at_360_px_with_aa_contrast_and_no_sideways_scrolling(page, server, path):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(server["url"] + path)
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] == 360
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    assert page.evaluate(LOW_CONTRAST_TEXT) == []


@pytest.mark.parametrize(
    "path",
    [
        f"documents/{quote(INFO_SHARING.name)}/text",
        "?" + urlencode({"q": PASTED_ADDRESS}),
        "compare?" + urlencode({"q": PASTED_ADDRESS}),
    ],  # where the results' "Compare agencies on …" link goes
    ids=["file-name", "pasted-address", "pasted-address-compared"],
)
def test_a_word_with_nowhere_to_wrap_still_fits_at_320_px(page, server, path):
    """WCAG 1.4.10: a file name or a web address has no space to wrap at, and must not push the page
    sideways."""
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(server["url"] + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


def test_marked_words_are_bold_as_well_as_yellow(page, server):
    """WCAG 1.4.1: the yellow is 1.13:1 against white, so colour cannot be the only cue."""
    search(page, server, MISSION)
    passage = page.locator("li.hit .passage").first
    weights = passage.evaluate(
        "p => [p, p.querySelector('mark')].map(el => getComputedStyle(el).fontWeight)"
    )
    assert weights == ["400", "700"]


# Every element that holds visible text, with its colour against the first opaque background behind
# it.
LOW_CONTRAST_TEXT = """() => {
    const rgba = colour => colour.match(/[\\d.]+/g).map(Number);
    const channel = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const luminance = ([r, g, b]) =>
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const behind = el => {
        for (; el; el = el.parentElement) {
            const colour = rgba(getComputedStyle(el).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour;
        }
        return [255, 255, 255];
    };
    const failing = [];
    for (const el of document.querySelectorAll("body *")) {
        const ownText = [...el.childNodes].some(
            node => node.nodeType === 3 && node.textContent.trim());
        if (!ownText || !el.getClientRects().length || el.closest(".visually-hidden")) continue;
        const [hi, lo] = [luminance(rgba(getComputedStyle(el).color)), luminance(behind(el))]
            .sort((a, b) => b - a);
        const ratio = (hi + 0.05) / (lo + 0.05);
        if (ratio < 4.5) failing.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
    }
    return failing;
}"""


def test_concurrent_searches_get_the_same_answers_as_one_at_a_time(server):
    queries = [
        MISSION,
        "Bradford inspection leaders",
        "children missing education",
        "sharing information without consent",
    ]

    def ask(query: str) -> list[str]:
        with urllib.request.urlopen(
            server["url"] + "api/search?" + urlencode({"q": query, "k": 5}), timeout=60
        ) as response:
            return [hit["id"] for hit in json.load(response)["results"]]

    alone = [ask(query) for query in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(ask, queries * 3))
    assert together == alone * 3


def test_the_server_log_holds_paths_but_no_query_text(server):
    with urllib.request.urlopen(
        server["url"] + "?" + urlencode({"q": "zanzibar " + MISSION})
    ) as response:
        assert response.status == 200
    log = server["log"].read_text()
    assert "GET / 200" in log
    assert "zanzibar" not in log and "hospital" not in log and "q=" not in log


# --- trainers: a session pack ------------------------------------------------------------------


def read_docx(path) -> list[str]:
    from docx import Document

    return [paragraph.text for paragraph in Document(path).paragraphs]


def test_a_trainer_adds_two_passages_notes_reorders_and_downloads_the_pack_as_word(page, server):
    search(page, server, MISSION)
    first, second = page.locator("li.hit").nth(0), page.locator("li.hit").nth(1)
    chosen = [
        {
            **hit_fields(hit),
            "text": hit.locator(".passage").inner_text(),
            "title": hit.locator(".cite .document").inner_text(),
        }
        for hit in (first, second)
    ]
    searched_at = page.url

    save_to(first, "Out of hours DA")
    first.get_by_role("button", name="Add passage 1 to the pack").click()
    expect(first.locator(".add-status")).to_contain_text("Added to “Out of hours DA” (1 passage).")
    assert page.url == searched_at  # the script added it without leaving the page
    second.locator("details.save > summary").click()
    assert (
        second.get_by_label("Add to pack").input_value() == "Out of hours DA"
    )  # the next add goes there too
    second.get_by_role("button", name="Add passage 2 to the pack").click()
    expect(second.locator(".add-status")).to_contain_text("(2 passages)")

    with page.expect_navigation():
        second.locator(".add-status").get_by_role("link", name="Open the pack").click()
    assert page.locator("h1").inner_text() == "Out of hours DA"
    page.get_by_label("Your note on passage 1").fill("Ask: who would you call at 2 a.m.?")
    with page.expect_navigation():
        page.get_by_role("button", name="Save note on passage 1").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Move up passage 2").click()
    shown = page.locator("li.pack-passage .passage").all_inner_texts()
    assert shown == [chosen[1]["text"], chosen[0]["text"]]
    # The moved passage is first now, its Move up off: focus is on its Move down, not the page.
    expect(page.get_by_role("button", name="Move down passage 1")).to_be_focused()
    with page.expect_navigation():
        page.get_by_role("button", name="Move down passage 1").click()
    expect(page.get_by_role("button", name="Move up passage 2")).to_be_focused()
    with page.expect_navigation():
        page.get_by_role("button", name="Move up passage 2").click()
    assert (
        page.get_by_label("Your note on passage 2").input_value()
        == "Ask: who would you call at 2 a.m.?"
    )

    with page.expect_download() as downloading:
        page.get_by_role("link", name=re.compile(r"^Word")).click()
    download = downloading.value
    assert download.suggested_filename == "Out-of-hours-DA.docx"
    lines = read_docx(download.path())
    text = "\n".join(lines)
    assert lines[0] == "Out of hours DA"
    later, earlier = (text.index(hit["text"].splitlines()[0]) for hit in chosen)
    assert earlier < later  # in the trainer's order, not the search's
    assert "Note: Ask: who would you call at 2 a.m.?" in text
    for hit in chosen:
        assert all(hit[name] in text for name in ("agency", "section", "title"))
        assert (
            hit["page"] in text
        )  # the pack cites the pages the search page did ("pages 1–2" for one cut by a break)
    assert "Sources" in lines and any("File: luton-lscp-yearly-report" in line for line in lines)


def test_the_add_button_keeps_the_focus_it_was_pressed_with(page, server):
    """WCAG 2.4.3: disabling the button while it adds would drop focus to the page, and the user's
    place with it."""
    search(page, server, "children missing education")
    hit = page.locator("li.hit").nth(1)
    save_to(hit, "Kept focus")
    button = hit.get_by_role("button", name="Add passage 2 to the pack")
    button.press("Enter")
    expect(hit.locator(".add-status")).to_contain_text("Added to “Kept focus” (1 passage).")
    assert button.evaluate("button => button === document.activeElement")
    assert button.get_attribute("aria-disabled") is None  # ready for the next press


def test_a_form_from_before_a_restart_says_to_reload_the_page(browser, server):
    # A context of its own: the refused request is logged to the console, which the page fixture
    # fails on.
    context = browser.new_context()
    page = context.new_page()
    try:
        search(page, server, MISSION)
        hit = page.locator("li.hit").first
        hit.locator("input[name=csrf_token]").evaluate(
            "input => { input.value = 'from-before-a-restart'; }"
        )
        save_to(hit, "Stale")
        hit.get_by_role("button", name="Add passage 1 to the pack").click()
        expect(hit.locator(".add-status")).to_have_text(
            "Not added: This form did not come from this page, or kb was restarted since it was "
            "shown: reload the page and try again."
        )
    finally:
        context.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_a_note_typed_on_a_page_older_than_the_server_is_kept_to_send_again(browser, server, width):
    # A context of its own: the refused request is logged to the console.
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        search(page, server, MISSION)
        hit = page.locator("li.hit").first
        save_to(hit, f"Stale {width}")
        hit.get_by_role("button", name="Add passage 1 to the pack").click()
        expect(hit.locator(".add-status")).to_contain_text("Added")
        with page.expect_navigation():
            hit.locator(".add-status").get_by_role("link", name="Open the pack").click()
        form = page.locator("form.note-form").first
        form.locator("input[name=csrf_token]").evaluate(
            "input => { input.value = 'from-before-a-restart'; }"
        )
        note = "Ask: who would you call at 2 a.m.?"
        page.get_by_label("Your note on passage 1").fill(note)
        with page.expect_navigation():
            page.get_by_role("button", name="Save note on passage 1").click()
        expect(page.locator("h1")).to_have_text("Nothing was saved yet")
        expect(page.get_by_label("Your note")).to_have_value(note)
        assert_accessible(page)
        with page.expect_navigation():
            page.get_by_role("button", name="Send again").click()
        expect(page.get_by_label("Your note on passage 1")).to_have_value(note)
    finally:
        context.close()


def test_a_note_prints_with_its_line_breaks(page, server):
    search(page, server, "children missing education")
    hit = page.locator("li.hit").first
    save_to(hit, "Printed notes")
    hit.get_by_role("button", name="Add passage 1 to the pack").click()
    expect(hit.locator(".add-status")).to_contain_text("Added to “Printed notes”")
    with page.expect_navigation():
        hit.locator(".add-status").get_by_role("link", name="Open the pack").click()
    page.get_by_label("Your note on passage 1").fill("Ask:\nwho is told?\nwhen?")
    with page.expect_navigation():
        page.get_by_role("button", name="Save note on passage 1").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Print view").click()
    note = page.locator(".card-note")
    assert note.evaluate("element => getComputedStyle(element).whiteSpace") == "pre-line"
    assert note.inner_text() == "Note: Ask:\nwho is told?\nwhen?"


def test_adding_to_a_pack_works_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        search(page, server, MISSION)
        hit = page.locator("li.hit").nth(2)
        save_to(hit, "No script")
        with page.expect_navigation():
            hit.get_by_role("button", name="Add passage 3 to the pack").click()
        assert "added=No+script" in page.url and page.url.endswith(
            "#" + hit.locator("article").get_attribute("id")
        )
        assert "Added to the pack “No script”." in page.locator(".added").inner_text()
        with page.expect_navigation():
            page.locator(".added").get_by_role("link", name="Open the pack").click()
        assert page.locator("li.pack-passage").count() == 1
    finally:
        context.close()


# --- trainers: signing in, deleting a pack and restoring it --------------------------------------

PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory, real_index):
    """`kb serve` with sign-in on, as beyond this machine, and one account."""
    yield from _serve(
        tmp_path_factory.mktemp("signed"), real_index, password=PASSWORD, KB_SIGN_IN="on"
    )


def assert_accessible(page) -> None:
    """axe-core (bundled by axe-playwright-python) finds no WCAG violation on the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("width", [1366, 390])
def test_a_trainer_signs_in_saves_a_passage_deletes_the_pack_and_restores_it(
    page, signed_server, width
):
    page.set_viewport_size({"width": width, "height": 900})
    pack = f"Signed in {width}"
    search(page, signed_server, MISSION)
    hit = page.locator("li.hit").first
    assert page.locator("form.add-to-pack").count() == 0
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in to save passages").click()
    assert page.locator("h1").inner_text() == "Sign in"
    assert_accessible(page)

    page.get_by_label("Name").fill("trainer")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "q=what+does+the+hospital" in page.url  # back to the results
    expect(page.locator(".signed-in")).to_contain_text("Signed in as trainer")
    hit = page.locator("li.hit").first
    save_to(hit, pack)
    hit.get_by_role("button", name="Add passage 1 to the pack").click()
    expect(hit.locator(".add-status")).to_contain_text(f"Added to “{pack}” (1 passage).")
    assert_accessible(page)

    with page.expect_navigation():
        hit.locator(".add-status").get_by_role("link", name="Open the pack").click()
    expect(page.locator(".meta").first).to_contain_text("Made by trainer.")
    expect(page.locator(".history")).to_contain_text("trainer added the passage from")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Delete this pack").click()
    assert page.locator("h1").inner_text() == f"Delete the pack “{pack}”?"
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Delete the pack").click()
    expect(page.locator(".added")).to_contain_text(f"Deleted the pack “{pack}”.")
    assert page.locator(".pack-list a", has_text=pack).count() == 0
    assert_accessible(page)

    with page.expect_navigation():
        page.locator(".added").get_by_role("button", name="Restore it").click()
    assert page.locator("h1").inner_text() == pack
    expect(page.locator(".added")).to_have_text(f"Restored the pack “{pack}”.")
    assert page.locator("li.pack-passage").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert_accessible(page)
