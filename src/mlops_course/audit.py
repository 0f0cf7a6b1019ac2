"""A tamper-evident, append-only audit log of registry decisions (chapter 18).

Chapter 8 records alias moves as tags on the registered model; anyone who can
edit the model can edit those tags, and nothing shows it. Here each decision
(registration, approval, promotion, rollback) is one JSON line in a file, and
each line carries the SHA-256 of the line before it (``prev``) and of itself
(``hash``). Editing, deleting or reordering any entry breaks the chain at that
entry, and :func:`verify` names it. Truncating the end leaves a shorter, valid
chain: give :func:`verify` the head hash recorded elsewhere (chapter 18 keeps
it as a tag on the registered model) and a missing tail is caught too.

Chapter 18 writes a ten-line version in the notebook first; this is the tested
one::

    log = AuditLog(path)
    log.append("promote", by="r.osei", model="credit-default", version="3", ...)
    verify(path)  # raises TamperedError naming the first bad entry
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The ``prev`` of the first entry: no entry came before it.
GENESIS = "0" * 64
#: What an entry's ``action`` may be.
ACTIONS = ("register", "approve", "promote", "rollback", "reject")
#: Keys every entry carries besides the caller's fields.
RESERVED = ("seq", "action", "prev", "hash")


class TamperedError(ValueError):
    """The log is not the chain it claims to be; ``seq`` is the first bad entry."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of an entry without its own ``hash``: canonical JSON, sorted keys."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read(path: str | Path) -> list[dict[str, Any]]:
    """The entries of the log at ``path``, oldest first (an absent file: none)."""
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise TamperedError(number, f"line is not JSON ({exc.msg})") from None
    return entries


@dataclass(frozen=True)
class Verified:
    """A chain that verified: how many entries, and the hash of the last one."""

    entries: int
    head: str


def verify(path: str | Path, *, head: str | None = None) -> Verified:
    """Check every link of the chain; raise :class:`TamperedError` at the first break.

    Each entry must be numbered in order from 1, carry the previous entry's
    hash as ``prev`` and its own content's hash as ``hash``. With ``head``
    (the last hash, kept somewhere the log's editors cannot write), the chain
    must also end there: a log cut short, or grown past it, fails.
    """
    entries = read(path)
    prev = GENESIS
    for position, entry in enumerate(entries, start=1):
        seq = entry.get("seq", position)
        if seq != position:
            raise TamperedError(position, f"numbered {seq}: entries missing or moved")
        if entry.get("prev") != prev:
            raise TamperedError(seq, "does not follow the entry before it (prev)")
        if entry.get("hash") != entry_hash(entry):
            raise TamperedError(seq, "content changed after it was written (hash)")
        prev = entry["hash"]
    if head is not None and prev != head:
        known = [e.get("hash") for e in entries]
        if head in known:
            extra = len(entries) - known.index(head) - 1
            raise TamperedError(len(entries), f"{extra} entries past the recorded head")
        raise TamperedError(
            len(entries) + 1, "recorded head not in the log: entries cut off the end"
        )
    return Verified(len(entries), prev)


class AuditLog:
    """Append-only, hash-chained JSON lines at ``path`` (the file is made on demand)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, action: str, **fields: Any) -> dict[str, Any]:
        """Verify the chain so far, then add one entry; return it (with its hash).

        ``fields`` are the decision's details (who, when, why, model, version...),
        JSON values only. Refuses to extend a chain that is already broken.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {ACTIONS}")
        clash = sorted(set(fields) & set(RESERVED))
        if clash:
            raise ValueError(f"fields {clash} are reserved for the chain")
        state = verify(self.path)
        entry: dict[str, Any] = {
            "seq": state.entries + 1,
            "action": action,
            **fields,
            "prev": state.head,
        }
        json.dumps(entry, allow_nan=False)  # JSON values only: fail before writing
        entry["hash"] = entry_hash(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first, after checking the chain."""
        verify(self.path)
        return read(self.path)

    def head(self) -> str:
        """The hash of the last entry (:data:`GENESIS` for an empty log)."""
        return verify(self.path).head
