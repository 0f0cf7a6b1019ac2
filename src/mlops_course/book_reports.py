"""Evidently reports published in the book, one JavaScript library for all.

Chapter 13 writes a copy of two of its reports to ``book/_extra/reports`` with
:func:`publish_report`; the book build (``book/_ext/course_book.py``) writes
:func:`evidently_library` beside them. Evidently is imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_HEX = "0-9a-f"
_RANDOM_ID = re.compile(
    rf"(?<![{_HEX}])(?:[{_HEX}]{{32}}|[{_HEX}]{{8}}(?:-[{_HEX}]{{4}}){{3}}-[{_HEX}]{{12}})"
    rf"(?![{_HEX}])"
)


def evidently_library() -> tuple[str, str]:
    """The file name and text of the JavaScript library Evidently inlines."""
    import evidently

    static = Path(evidently.__file__).parent / "nbextension" / "static" / "index.js"
    return f"evidently-{evidently.__version__}.js", static.read_text(encoding="utf-8")


def _stable_ids(page: str, salt: str) -> str:
    """Each random id (hex or UUID) replaced by one derived from its rank."""
    seen: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        old = match.group(0)
        if old not in seen:
            digest = hashlib.sha256(f"{salt}-{len(seen)}".encode()).hexdigest()
            if "-" in old:
                digest = "-".join(
                    (
                        digest[:8],
                        digest[8:12],
                        digest[12:16],
                        digest[16:20],
                        digest[20:32],
                    )
                )
            seen[old] = digest[: len(old)]
        return seen[old]

    return _RANDOM_ID.sub(replace, page)


def publish_report(html: str, path: str | Path) -> Path:
    """Write an Evidently HTML report for the book, its library in a shared file.

    Evidently's ``save_html`` inlines its 3.5 MB JavaScript library in every
    report. Here the library goes once into ``evidently-<version>.js`` next to
    ``path`` (loaded by a classic ``<script src>``, so the report still opens
    from disk, offline). Random ids (dashboard, widgets) are replaced by ids
    derived from their order, so the same data gives the same bytes.
    """
    path = Path(path)
    name, library = evidently_library()
    block = f"<script>{library}</script>"
    if html.count(block) != 1:
        raise ValueError("expected Evidently's inlined library once in this HTML")
    page = html.replace(block, f'<script src="{name}"></script>')
    page = _stable_ids(page, path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    lib_path = path.parent / name
    if not lib_path.exists() or lib_path.read_text(encoding="utf-8") != library:
        lib_path.write_text(library, encoding="utf-8")
    path.write_text(page, encoding="utf-8")
    return path
