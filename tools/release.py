"""Release checks and steps (CONTRIBUTING.md, "Cutting a release").

    python -m tools.release check v0.4.1        # tag, versions and changelog agree
    python -m tools.release pin-binder v0.4.1   # Binder buttons open the tag, not main
    python -m tools.release notes v0.4.1        # the changelog entry, for the release

The version lives in pyproject.toml; the package repeats it
(``mlops_course.__version__``), the book shows it (the footer set in
_config.yml) and book/changelog.md has one ``## X.Y.Z (YYYY-MM-DD)`` entry per
release, newest first. The release workflow (.github/workflows/release.yml)
runs the three commands on a pushed ``v*`` tag, builds the book with
``make book`` and attaches it to the GitHub release.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = ROOT / "book" / "changelog.md"
CONFIG = ROOT / "_config.yml"
PYPROJECT = ROOT / "pyproject.toml"
ENTRY = re.compile(r"^## (\d+\.\d+\.\d+) \((\d{4}-\d{2}-\d{2})\)\s*$", re.M)
FOOTER_VERSION = re.compile(r"\bVersion (\d+\.\d+\.\d+)\b")
BRANCH_LINE = re.compile(r"^(  branch: ).*$", re.M)
PACKAGE_INIT = Path("src") / "mlops_course" / "__init__.py"
PACKAGE_VERSION = re.compile(r'^__version__ = "(.*)"$', re.M)


def project_version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def book_version(root: Path = ROOT) -> str | None:
    """The version the book's footer shows (html.extra_footer in _config.yml)."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    found = FOOTER_VERSION.search(config.get("html", {}).get("extra_footer", ""))
    return found.group(1) if found else None


def package_version(root: Path = ROOT) -> str | None:
    """``mlops_course.__version__``, read from the source (no import needed)."""
    found = PACKAGE_VERSION.search((root / PACKAGE_INIT).read_text())
    return found.group(1) if found else None


def changelog_entries(text: str) -> list[tuple[str, str]]:
    """``(version, date)`` of every entry, in the order the file lists them."""
    return ENTRY.findall(text)


def entry_text(text: str, version: str) -> str:
    """The body of one version's entry (up to the next entry), or ''."""
    heads = list(ENTRY.finditer(text))
    for i, head in enumerate(heads):
        if head.group(1) == version:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            return text[head.end() : end].strip()
    return ""


def problems(tag: str | None = None, root: Path = ROOT) -> list[str]:
    """Why this tree cannot be released as ``tag`` (or as its own version)."""
    version = project_version(root)
    found = []
    if tag is not None and tag != f"v{version}":
        found.append(f"tag {tag} does not name pyproject.toml's version v{version}")
    shown = book_version(root)
    if shown != version:
        found.append(f"the book shows version {shown}, pyproject.toml says {version}")
    package = package_version(root)
    if package != version:
        found.append(
            f"mlops_course.__version__ is {package}, pyproject.toml says {version}"
        )
    text = (root / "book" / "changelog.md").read_text()
    entries = changelog_entries(text)
    if not entries or entries[0][0] != version:
        top = entries[0][0] if entries else "none"
        found.append(f"the changelog's newest entry is {top}, not {version}")
    elif not entry_text(text, version):
        found.append(f"the changelog entry for {version} is empty")
    versions = [tuple(map(int, v.split("."))) for v, _ in entries]
    if versions != sorted(versions, reverse=True) or len(set(versions)) < len(versions):
        found.append("changelog entries are not newest first, one per version")
    dates = [d for _, d in entries]
    if dates != sorted(dates, reverse=True):
        found.append("changelog dates do not go back in time")
    return found


def pin_binder(tag: str, root: Path = ROOT) -> None:
    """Point the book's repository branch (Binder's ref) at ``tag``."""
    config = root / "_config.yml"
    text = config.read_text()
    new, count = BRANCH_LINE.subn(rf"\g<1>{tag}", text)
    if count != 1:
        raise SystemExit(f"expected one 'branch:' line in {config}, found {count}")
    config.write_text(new)
    if yaml.safe_load(new)["repository"]["branch"] != tag:
        raise SystemExit("repository.branch did not take the tag")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "pin-binder", "notes"])
    parser.add_argument("tag", help="the release tag, v followed by the version")
    args = parser.parse_args(argv)
    if args.command == "check":
        found = problems(args.tag)
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    if args.command == "pin-binder":
        pin_binder(args.tag)
        return 0
    print(entry_text(CHANGELOG.read_text(), args.tag.removeprefix("v")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
