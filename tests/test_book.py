"""The book builds with warnings as errors, and every page works in a browser, offline.

The book is built once per module (fresh, so no incremental build hides a
warning); the browser tests load that build in Debian's Chromium (tools/browser.py)
and keep screenshots of key pages in `_build/screenshots/`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import browser
from tools.nbchecks import ROOT, toc_files

SCREENSHOTS = ROOT / "_build" / "screenshots"


@pytest.fixture(scope="module")
def book_build(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n"]
        + ["--keep-going"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return done, out / "_build" / "html"


@pytest.fixture(scope="module")
def browser_report(book_build) -> browser.Report:
    done, html = book_build
    if browser.find_chromium() is None:
        pytest.skip(
            "no Chromium on PATH: `apt-get install chromium` (Debian) to run the "
            "browser check; .ci/run installs it"
        )
    if done.returncode != 0:
        pytest.fail("the book did not build (see test_book_builds_without_warnings)")
    report = browser.check_book(html, SCREENSHOTS)
    print(report.summary())
    return report


@pytest.mark.book
def test_book_builds_without_warnings(book_build):
    done, html = book_build
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    assert (html / "index.html").is_file()
    for page in toc_files():
        assert (html / f"{page}.html").is_file(), f"no HTML page for {page}"


@pytest.mark.book
def test_book_uses_no_cdn(book_build):
    done, html = book_build
    assert done.returncode == 0
    page = (html / "book" / "intro.html").read_text()
    assert "_static/mermaid.min.js" in page
    assert "cdn.jsdelivr.net" not in page and "import mermaid" not in page


@pytest.mark.book
def test_each_chapter_page_offers_its_student_version(book_build):
    done, html = book_build
    assert done.returncode == 0
    for page in toc_files():
        if not page.startswith("notebooks/"):
            continue
        name = page.removeprefix("notebooks/")
        text = (html / f"{page}.html").read_text()
        assert f'href="../student/{name}.ipynb"' in text, page
        assert f"?urlpath=lab/tree/student/{name}.ipynb" in text, page
        copied = html / "student" / f"{name}.ipynb"
        assert copied.read_bytes() == (ROOT / "student" / copied.name).read_bytes()
    assert not (html / "notebooks" / "student").exists()  # downloads, not pages


@pytest.mark.book
def test_every_page_loads_cleanly_in_chromium(browser_report):
    assert len(browser_report.pages) >= len(toc_files())
    problems = browser_report.problems()
    assert not problems, "\n".join([browser_report.summary(), *problems])


@pytest.mark.book
def test_diagrams_render_as_svg_offline_over_http_and_from_disk(browser_report):
    assert "book/intro.html" in browser_report.diagrams
    for drawn in (browser_report.diagrams, browser_report.diagrams_from_file):
        assert all(count > 0 for count in drawn.values()), drawn
    assert browser_report.diagrams == browser_report.diagrams_from_file


@pytest.mark.book
def test_search_finds_pages_and_screenshots_are_kept(browser_report):
    assert browser_report.search_results > 0
    names = {shot.name for shot in browser_report.screenshots}
    assert {"intro.png", "intro_diagram.png", "search.png"} <= names
    assert all(shot.stat().st_size > 0 for shot in browser_report.screenshots)


def test_browser_check_catches_broken_pages(tmp_path):
    """The check fails on what it is meant to catch (a check that cannot fail is
    no check): a console error, a missing image, a broken link and anchor, and a
    request to a host other than loopback."""
    if browser.find_chromium() is None:
        pytest.skip("no Chromium on PATH: `apt-get install chromium` (Debian)")
    (tmp_path / "ok.html").write_text('<h1 id="top">ok</h1>')
    (tmp_path / "bad.html").write_text(
        '<a href="ok.html#top">fine</a> <a href="ok.html#nowhere">anchor</a>'
        ' <a href="missing.html">file</a> <img src="nothing.png">'
        ' <script src="https://cdn.example.org/x.js"></script>'
        " <script>console.error('boom')</script>"
    )
    (tmp_path / "diagrams.html").write_text(
        '<div class="highlight-mermaid"><pre>flowchart LR</pre></div>'
        '<pre class="mermaid" data-mermaid-render-failed="true">oops</pre>'
    )
    report = browser.check_book(tmp_path)
    assert report.pages == ["bad.html", "diagrams.html", "ok.html"]
    assert len(report.undrawn_diagrams) == 2, report.undrawn_diagrams
    assert report.broken_links == [
        "bad.html -> ok.html#nowhere (no such anchor)",
        "bad.html -> missing.html (no such file)",
    ]
    assert [m.split(": ", 1)[0] for m in report.missing_images] == ["bad.html"]
    assert report.blocked_requests == ["bad.html: https://cdn.example.org/x.js"]
    assert any("boom" in e for e in report.console_errors)
    assert any("nothing.png" in e for e in report.failed_requests)


def test_vendored_mermaid_matches_its_pin():
    done = subprocess.run(
        [sys.executable, "-m", "tools.vendor_mermaid", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")


def phase_sections() -> dict[str, list[str]]:
    """Each phase overview page -> the chapters _toc.yml puts under it, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = {}
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            if chapter["file"].startswith("book/phase"):
                found[chapter["file"]] = [s["file"] for s in chapter["sections"]]
    return found


@pytest.mark.parametrize("page", ["book/phase1", "book/phase2", "book/phase3"])
def test_phase_page_lists_its_chapters_in_toc_order_and_none_as_unwritten(page):
    text = (ROOT / f"{page}.md").read_text()
    table = [
        DOC.search(line).group(1).removeprefix("../")
        for line in text.splitlines()
        if line.startswith("| {doc}")
    ]
    assert table == phase_sections()[page]
    assert not re.search(r"being written|not yet written|coming soon", text, re.I)


def test_every_coverage_row_names_a_chapter():
    """The coverage page says every row has a chapter: hold it to that."""
    rows = [
        line
        for line in (ROOT / "book" / "coverage.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith(("| Phase", "| ---"))
    ]
    assert len(rows) > 20
    for row in rows:
        where = row.strip().strip("|").split("|")[-1]
        assert DOC.search(where), f"no chapter: {row}"


def test_book_pages_use_plain_mermaid_fences():
    """JupyterLab draws ```mermaid fences; so does the book (fence_as_directive)."""
    for page in (ROOT / "book").glob("*.md"):
        assert "```{mermaid}" not in page.read_text(), page
