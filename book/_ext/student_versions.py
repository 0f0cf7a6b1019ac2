"""Each chapter page offers its student version: a download and a Binder link.

The student notebooks (``student/NN_slug.ipynb``, written by
``make students``, see tools/students.py) are not pages of the book. This
extension copies them into the built HTML (``student/NN_slug.ipynb``) and adds
a "Student version" group to the header of each chapter page that has one,
beside the theme's launch and download buttons:

- "Download .ipynb": the student notebook from the built book;
- "Open in Binder": the same Binder launch as the page's own button (the
  repository, and the ref `_config.yml` pins, which a release sets to its tag),
  opening ``student/NN_slug.ipynb`` instead of the full chapter.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

from sphinx.application import Sphinx

FOLDER = "student"
LABEL = "student-version-buttons"


def student_file(app: Sphinx, pagename: str) -> Path | None:
    """The student notebook of page ``notebooks/NN_slug``, when there is one."""
    folder, _, name = pagename.rpartition("/")
    if folder != "notebooks":
        return None
    path = Path(app.srcdir) / FOLDER / f"{name}.ipynb"
    return path if path.is_file() else None


def binder_url(app: Sphinx, pagename: str) -> str | None:
    """Binder's launch URL for the student version of ``pagename``, or None."""
    options = app.config.html_theme_options or {}
    launch = options.get("launch_buttons") or {}
    binderhub = str(launch.get("binderhub_url") or "").rstrip("/")
    repository = str(options.get("repository_url") or "").rstrip("/")
    if not binderhub or "github.com/" not in repository:
        return None
    org, repo = repository.split("github.com/")[-1].split("/")[:2]
    branch = options.get("repository_branch") or "main"
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}[
        launch.get("notebook_interface", "classic")
    ]
    path = quote(f"{FOLDER}/{pagename.rpartition('/')[2]}.ipynb")
    return f"{binderhub}/v2/gh/{org}/{repo}/{branch}?urlpath={ui}/{path}"


def _buttons(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Add the "Student version" group to a chapter page's header buttons."""
    if student_file(app, pagename) is None or "header_buttons" not in context:
        return
    name = pagename.rpartition("/")[2]
    buttons = [
        {
            "type": "link",
            "url": f"{context['pathto'](FOLDER, 1)}/{name}.ipynb",
            "text": "Download .ipynb",
            "tooltip": "The notebook with each solution replaced by your answer",
            "icon": "fas fa-download",
            "label": "student-download-button",
        }
    ]
    url = binder_url(app, pagename)
    if url:
        buttons.append(
            {
                "type": "link",
                "url": url,
                "text": "Open in Binder",
                "tooltip": "Launch the student version on Binder",
                "icon": "fas fa-rocket",
                "label": "student-binder-button",
            }
        )
    context["header_buttons"].append(
        {
            "type": "group",
            "tooltip": "Student version: the exercises without their solutions",
            "icon": "fas fa-pen-to-square",
            "buttons": buttons,
            "label": LABEL,
        }
    )


def _copy(app: Sphinx, exception: Exception | None) -> None:
    """Copy the student notebooks into the built HTML (``student/``)."""
    if exception is not None or app.builder.format != "html":
        return
    source = Path(app.srcdir) / FOLDER
    target = Path(app.outdir) / FOLDER
    target.mkdir(exist_ok=True)
    for path in sorted(source.glob("*.ipynb")):
        shutil.copyfile(path, target / path.name)


def setup(app: Sphinx) -> dict:
    # After the theme's buttons (priority 501), so the group comes last.
    app.connect("html-page-context", _buttons, priority=600)
    app.connect("build-finished", _copy)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
