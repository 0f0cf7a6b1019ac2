"""The rendered book, checked in headless Chromium as a reader would see it.

Used by tests/test_book.py on a fresh build, and on its own on `_build/html`:

    tools/offline .venv/bin/python -m tools.browser [_build/html]

Every page is served over loopback (search needs HTTP) and loaded in Debian's
Chromium driven by Playwright (never `playwright install`: no browser download).
A page fails on console errors, uncaught exceptions, local requests that fail,
links to local files or anchors that do not exist, images that did not load, and
any request to a host other than the loopback server: the book must work offline.
Mermaid diagrams must have become SVGs, over HTTP and from `file://`.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Containers (CI) often have a 64 MB /dev/shm, too small for Chromium.
    "--disable-dev-shm-usage",
]
# Pages photographed into the screenshot folder (path, file name).
KEY_PAGES = {
    "book/intro.html": "intro",
    "book/how_to_use.html": "how_to_use",
    "notebooks/01_notebook_model.html": "chapter01",
}
SEARCH_WORD = "MLflow"
TIMEOUT_MS = 30_000


def find_chromium() -> str | None:
    """The path of a Chromium on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a folder on 127.0.0.1 (free port) and yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _Ids(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        for name in ("id", "name"):
            if found.get(name):
                self.ids.add(found[name])
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "refresh":
            self.refresh = (found.get("content") or "").partition("url=")[2] or None


@functools.cache
def _parse(path: Path) -> _Ids:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _anchors(path: Path) -> set[str]:
    return _parse(path).ids


@dataclass
class Report:
    """What the browser saw, page by page (paths relative to the HTML root)."""

    pages: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    diagrams: dict[str, int] = field(default_factory=dict)
    undrawn_diagrams: list[str] = field(default_factory=list)
    diagrams_from_file: dict[str, int] = field(default_factory=dict)
    search_results: int = 0
    screenshots: list[Path] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every failure, one line each."""
        return (
            [f"console error: {e}" for e in self.console_errors]
            + [f"failed request: {e}" for e in self.failed_requests]
            + [f"blocked non-loopback request: {e}" for e in self.blocked_requests]
            + [f"broken link: {e}" for e in self.broken_links]
            + [f"missing image: {e}" for e in self.missing_images]
            + [f"diagram not drawn: {e}" for e in self.undrawn_diagrams]
        )

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"{len(self.pages)} pages, {len(self.console_errors)} console errors, "
            f"{len(self.failed_requests)} failed local requests, "
            f"{len(self.blocked_requests)} blocked external requests, "
            f"{len(self.broken_links)} broken links, "
            f"{len(self.missing_images)} missing images, "
            f"{len(self.undrawn_diagrams)} undrawn diagrams, "
            f"{sum(self.diagrams.values())} diagrams drawn over HTTP and "
            f"{sum(self.diagrams_from_file.values())} from file://, "
            f"{self.search_results} search results for {SEARCH_WORD!r}"
        )


def book_pages(root: Path) -> list[str]:
    """Every HTML page of a built book (theme templates in _static excluded)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.html")
        if not p.relative_to(root).parts[0].startswith("_")
    )


_PAGE_FACTS = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  images: [...document.querySelectorAll('img')].map(
    i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  diagrams: document.querySelectorAll('pre.mermaid').length,
  drawn: document.querySelectorAll('pre.mermaid svg').length,
  asCode: document.querySelectorAll('div.highlight-mermaid').length,
})"""
_DIAGRAMS_DONE = """() => [...document.querySelectorAll('pre.mermaid')].every(
  d => d.querySelector('svg') || d.dataset.mermaidRenderFailed)"""


def _check_link(root: Path, page: str, url: str, base: str, report: Report) -> None:
    if not url.startswith(base):
        return  # external links are not followed: the check is offline
    parts = urlsplit(url)
    rel = unquote(parts.path[len(urlsplit(base).path) :])
    target = root / rel
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        report.broken_links.append(f"{page} -> {rel} (no such file)")
        return
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in _anchors(target):
        report.broken_links.append(f"{page} -> {rel}#{fragment} (no such anchor)")


def check_book(root: Path, screenshots: Path | None = None) -> Report:
    """Load every page of the built book at `root` in Chromium and report."""
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium on PATH (apt-get install chromium)")
    root = root.resolve()
    report = Report(pages=book_pages(root))
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    with serve(root) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            loopback = urlsplit(base).netloc

            def route(r) -> None:
                url = urlsplit(r.request.url)
                if url.scheme in ("data", "blob", "file") or url.netloc == loopback:
                    r.continue_()
                else:
                    report.blocked_requests.append(f"{current[0]}: {r.request.url}")
                    r.abort("blockedbyclient")

            current = [""]
            context.route("**/*", route)
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    m.type == "error"
                    and not m.text.startswith(
                        "Failed to load resource: net::ERR_BLOCKED"
                    )
                    and report.console_errors.append(f"{current[0]}: {m.text}")
                ),
            )
            page.on(
                "pageerror",
                lambda e: report.console_errors.append(f"{current[0]}: {e}"),
            )
            # A missing file shows as a response >= 400 below. ERR_ABORTED is the
            # browser cancelling a request itself (leaving a page while a late
            # request is in flight), not a fault of the book.
            page.on(
                "requestfailed",
                lambda r: (
                    urlsplit(r.url).netloc == loopback
                    and r.failure != "net::ERR_ABORTED"
                    and report.failed_requests.append(
                        f"{current[0]}: {r.url} ({r.failure})"
                    )
                ),
            )
            page.on(
                "response",
                lambda r: (
                    r.status >= 400
                    and report.failed_requests.append(
                        f"{current[0]}: {r.status} {r.url}"
                    )
                ),
            )
            for rel in report.pages:
                current[0] = rel
                page.goto(base + rel, wait_until="load", timeout=TIMEOUT_MS)
                redirect = _parse(root / rel).refresh
                if redirect:  # index.html: a redirect to the first page
                    target = urljoin(base + rel, redirect)
                    _check_link(root, rel, target, base, report)
                    page.wait_for_url(target, wait_until="load", timeout=TIMEOUT_MS)
                    continue
                page.wait_for_function(_DIAGRAMS_DONE, timeout=TIMEOUT_MS)
                facts = page.evaluate(_PAGE_FACTS)
                for url in facts["links"]:
                    _check_link(root, rel, url, base, report)
                report.missing_images += [
                    f"{rel}: {i['src']}" for i in facts["images"] if not i["ok"]
                ]
                if facts["diagrams"]:
                    report.diagrams[rel] = facts["drawn"]
                if facts["drawn"] < facts["diagrams"]:
                    report.undrawn_diagrams.append(
                        f"{rel}: {facts['diagrams'] - facts['drawn']} of "
                        f"{facts['diagrams']} (mermaid could not draw them)"
                    )
                if facts["asCode"]:
                    report.undrawn_diagrams.append(
                        f"{rel}: {facts['asCode']} shown as code "
                        "(needs myst_fence_as_directive: [mermaid])"
                    )
                if screenshots is not None and rel in KEY_PAGES:
                    shot = screenshots / f"{KEY_PAGES[rel]}.png"
                    page.screenshot(path=shot)
                    report.screenshots.append(shot)
                    if facts["drawn"]:
                        shot = screenshots / f"{KEY_PAGES[rel]}_diagram.png"
                        page.locator("pre.mermaid").first.screenshot(path=shot)
                        report.screenshots.append(shot)

            # Search runs in the page from searchindex.js.
            if "search.html" in report.pages:
                current[0] = "search.html"
                page.goto(f"{base}search.html?q={SEARCH_WORD}", timeout=TIMEOUT_MS)
                page.wait_for_selector("ul.search li", timeout=TIMEOUT_MS)
                report.search_results = page.locator("ul.search li").count()
                if screenshots is not None:
                    shot = screenshots / "search.png"
                    page.screenshot(path=shot)
                    report.screenshots.append(shot)

            # A reader who opens the built files from disk, with no server.
            for rel in report.diagrams:
                current[0] = f"file://{rel}"
                page.goto((root / rel).as_uri(), wait_until="load", timeout=TIMEOUT_MS)
                page.wait_for_function(_DIAGRAMS_DONE, timeout=TIMEOUT_MS)
                report.diagrams_from_file[rel] = page.locator("pre.mermaid svg").count()
        finally:
            browser.close()
    return report


def main() -> None:
    """Check a built book and print the figures; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screenshots", default=Path("_build/screenshots"), type=Path)
    args = parser.parse_args()
    report = check_book(args.html, args.screenshots)
    for line in report.problems():
        print(line)
    print(report.summary())
    print("screenshots:", *(str(s) for s in report.screenshots))
    sys.exit(1 if report.problems() else 0)


if __name__ == "__main__":
    main()
