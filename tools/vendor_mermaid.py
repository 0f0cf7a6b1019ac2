"""Vendor mermaid.js into book/_static so the book draws its diagrams offline.

sphinxcontrib-mermaid loads mermaid from a CDN by default: a reader without
internet then sees diagram source instead of a diagram. The book instead ships
mermaid's single-file browser build (`dist/mermaid.min.js`, a classic script,
so it also works from `file://`), pinned here by version and SHA-256.

    python -m tools.vendor_mermaid           # fetch with `npm pack`, verify, write
    python -m tools.vendor_mermaid --check   # verify the committed copy only

To upgrade: change VERSION, run with `--print-sha256`, paste the new hash into
SHA256, run again, rebuild the book and run the browser check.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "11.17.2"
SHA256 = "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8"

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "book" / "_static"
TARGET = STATIC / "mermaid.min.js"
LICENSE = STATIC / "mermaid.LICENSE"


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check() -> str | None:
    """Return None when the committed copy matches the pin, else the problem."""
    if not TARGET.is_file():
        return f"{TARGET.relative_to(ROOT)} is missing: run make vendor-mermaid"
    digest = sha256(TARGET)
    if digest != SHA256:
        return (
            f"{TARGET.relative_to(ROOT)} has SHA-256 {digest}, "
            f"expected {SHA256} (mermaid {VERSION})"
        )
    if not LICENSE.is_file():
        return f"{LICENSE.relative_to(ROOT)} is missing"
    return None


def fetch(print_only: bool) -> None:
    """Download mermaid@VERSION with `npm pack` and copy its browser build."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch mermaid (or restore the committed copy)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"mermaid@{VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("mermaid-*.tgz")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        built = Path(tmp) / "package" / "dist" / "mermaid.min.js"
        digest = sha256(built)
        if print_only:
            print(digest)
            return
        if digest != SHA256:
            sys.exit(f"mermaid {VERSION}: SHA-256 {digest} does not match the pin")
        STATIC.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, TARGET)
        shutil.copyfile(Path(tmp) / "package" / "LICENSE", LICENSE)
    print(f"wrote {TARGET.relative_to(ROOT)} (mermaid {VERSION}, verified)")


def main() -> None:
    """Fetch and verify, or only verify with --check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only")
    parser.add_argument(
        "--print-sha256", action="store_true", help="print the hash of VERSION"
    )
    args = parser.parse_args()
    if args.check:
        problem = check()
        if problem:
            sys.exit(problem)
        print(f"{TARGET.relative_to(ROOT)}: mermaid {VERSION}, SHA-256 verified")
        return
    fetch(args.print_sha256)


if __name__ == "__main__":
    main()
