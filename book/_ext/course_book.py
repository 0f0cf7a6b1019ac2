"""Sphinx fixes for the course book, each found by the browser check (tools/browser.py).

1. Mermaid diagrams are drawn offline, from file:// as well as over HTTP.
sphinxcontrib-mermaid (pinned in the lock) writes one inline ES module per page
with a diagram; it starts with `import mermaid from <url>`. An ES module import
is blocked for pages opened from disk (file:// has no origin), so even a local
copy would leave a reader who opens `_build/html/index.html` with diagram source.

This extension keeps sphinxcontrib-mermaid for everything else (the `mermaid`
directive, its HTML, the fullscreen viewer) and changes only how the library
arrives: the vendored single-file build `_static/mermaid.min.js` (see
tools/vendor_mermaid.py) is loaded as a classic script on pages with a diagram,
and the inline module takes `mermaid` from `window` instead of importing it.

2. One copy of each inline script. sphinx-thebe 0.3.1 adds its configuration
script (`const THEBE_JS_URL = ...`) while documents are read; Sphinx then lists
it twice and every page logs "Identifier 'THEBE_JS_URL' has already been
declared". The page's script list is de-duplicated before it is written.

3. Chapter 13's Evidently reports (book/_extra/reports, copied by
`html_extra_path`) share one copy of Evidently's 3.5 MB JavaScript library. The
library is not kept in git: the build writes it from the installed, locked
Evidently package, so the reports open offline in the built book.

4. A `repo` role links a folder or file of the course repository
(``{repo}`starters/bentoml-evidently` ``) from the one repository URL set in
`_config.yml`, so no page hard-codes it.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

IMPORT_LINE = "import mermaid from {{ mermaid_js_url }};"
GLOBAL_LINE = "const mermaid = window.mermaid;"
SCRIPT = "mermaid.min.js"


def _use_global_mermaid() -> None:
    """Make sphinxcontrib-mermaid's page script read `window.mermaid`."""
    import sphinxcontrib.mermaid as sm

    template = sm._MERMAID_JS
    if GLOBAL_LINE in template:
        return
    if IMPORT_LINE not in template:
        raise ExtensionError(
            "course_book: sphinxcontrib-mermaid's page script changed "
            f"(no {IMPORT_LINE!r}); update book/_ext/course_book.py"
        )
    sm._MERMAID_JS = template.replace(IMPORT_LINE, GLOBAL_LINE, 1)


def _add_script(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Load the vendored mermaid build on the pages that have a diagram."""
    from sphinxcontrib.mermaid import mermaid

    # The same test as sphinxcontrib-mermaid's: pages without a doctree (search,
    # index) get its page script too, so they need the library as well.
    if doctree is None or doctree.next_node(mermaid) is not None:
        app.add_js_file(SCRIPT, priority=app.config.mermaid_js_priority - 1)


def _one_copy_of_each_script(app: Sphinx, pagename, templatename, context, doctree):
    """Drop repeated scripts (same file or inline body, same attributes)."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        key = (
            str(getattr(js, "filename", js) or ""),
            getattr(js, "priority", 500),
            tuple(sorted(getattr(js, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def _evidently_library(app: Sphinx, exception: Exception | None) -> None:
    """Write Evidently's library beside the reports that load it (see 3. above)."""
    reports = Path(app.outdir) / "reports"
    if exception is not None or not any(reports.glob("*.html")):
        return
    from mlops_course.book_reports import evidently_library

    name, library = evidently_library()
    (reports / name).write_text(library, encoding="utf-8")


def repo_link(config, path: str):
    """A literal link to ``path`` in the repository at the configured branch."""
    from docutils import nodes

    theme = config.html_theme_options or {}
    base = str(theme.get("repository_url", "")).rstrip("/")
    literal = nodes.literal(path, path)
    if not base:
        return literal
    branch = theme.get("repository_branch") or "main"
    url = f"{base}/tree/{branch}/{path.strip('/')}"
    return nodes.reference("", "", literal, refuri=url, internal=False)


def _repo_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    config = inliner.document.settings.env.config
    return [repo_link(config, text)], []


def setup(app: Sphinx) -> dict:
    """Register the extension (after sphinxcontrib.mermaid)."""
    app.setup_extension("sphinxcontrib.mermaid")
    _use_global_mermaid()
    app.connect("html-page-context", _add_script)
    # Late, after every extension has added its scripts for the page.
    app.connect("html-page-context", _one_copy_of_each_script, priority=900)
    app.connect("build-finished", _evidently_library)
    app.add_role("repo", _repo_role)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
