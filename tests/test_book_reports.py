"""The book's copies of Evidently reports (mlops_course.book_reports, chapter 13)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mlops_course import data, modeling, monitoring
from mlops_course.book_reports import evidently_library, publish_report


def fake_report(library: str, ids: tuple[str, str]) -> str:
    return (
        f"<html><head><script>var metric_{ids[0]} = {{'id': '{ids[1]}'}};</script>"
        f"</head><body><div id='root_metric_{ids[0]}'></div>"
        f"<script>{library}</script></body></html>"
    )


def test_published_report_shares_the_library_and_has_stable_ids(tmp_path):
    name, library = evidently_library()
    assert name.startswith("evidently-") and len(library) > 1_000_000
    first = fake_report(library, ("ab" * 16, "01a21bce-6e14-746b-a106-6120b9f7a6a1"))
    second = fake_report(library, ("cd" * 16, "01a21bce-67db-7bf0-9ffd-b9630bc021bc"))
    one = publish_report(first, tmp_path / "a" / "drift.html").read_text()
    two = publish_report(second, tmp_path / "b" / "drift.html").read_text()
    assert one == two  # only the random ids differed
    assert f'<script src="{name}"></script>' in one and library not in one
    assert "ab" * 16 not in one and "6120b9f7a6a1" not in one
    assert one.count("metric_") == 2  # both mentions renamed alike
    assert (tmp_path / "a" / name).read_text() == library
    with pytest.raises(ValueError, match="inlined library"):
        publish_report("<html></html>", tmp_path / "c.html")


@pytest.mark.slow
def test_published_report_renders_offline_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright  # pinned: never a skip

    from tools.browser import CHROMIUM_ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on PATH")
    frame = data.generate_applications(6_000, seed=42)
    train, reference = frame.iloc[:4_000], frame.iloc[4_000:]
    model = modeling.make_model("logreg").fit(*modeling.features_and_target(train))
    batch = data.drift_scenario("covariate_shift", 1_000)
    snapshot = monitoring.monitor(model, reference, batch.frame, with_labels=False)
    html = snapshot.drift.get_html_str(as_iframe=False)
    path = publish_report(html, tmp_path / "drift.html")
    outside, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def route(r) -> None:
                if urlsplit(r.request.url).scheme in ("file", "data", "blob"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_selector("svg.main-svg", timeout=30_000)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert outside == [] and errors == []
    assert "Drift is detected for 23.077% of columns (3 out of 13)" in text


def test_book_reports_use_the_installed_evidently_library():
    """The committed reports load the library of the Evidently in the lock.

    The library itself is not in git (3.5 MB): the book build writes it from the
    installed package (book/_ext/course_book.py), and so does the notebook.
    """
    from mlops_course.workspace import course_root

    root = course_root()
    assert root is not None
    reports = root / "book" / "_extra" / "reports"
    name, library = evidently_library()
    pages = sorted(reports.glob("*.html"))
    assert pages, "chapter 13 writes its reports here (make outputs)"
    assert len(library) > 1_000_000
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert f'<script src="{name}"></script>' in text, page.name
        assert "cdn." not in text and "https://" not in text.split("<body>")[0]
