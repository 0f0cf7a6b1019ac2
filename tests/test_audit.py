"""The hash-chained audit log: appends verify, every kind of tampering is named."""

from __future__ import annotations

import json

import pytest

from mlops_course import audit


@pytest.fixture
def log(tmp_path):
    log = audit.AuditLog(tmp_path / "audit.jsonl")
    log.append("register", by="ci", model="credit-default", version="1")
    log.append("approve", by="r.osei", model="credit-default", version="1")
    log.append("promote", by="r.osei", alias="champion", to="1", why="first")
    log.append("rollback", by="j.marsh", alias="champion", to="1", why="INC-1")
    return log


def lines(log) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def write(log, entries) -> None:
    log.path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_a_fresh_chain_verifies_and_links_each_entry(log):
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev"] == audit.GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev"] == before["hash"]
    result = audit.verify(log.path, head=entries[-1]["hash"])
    assert result == audit.Verified(4, entries[-1]["hash"])
    assert log.head() == result.head


def test_editing_one_entry_fails_naming_it(log):
    entries = lines(log)
    entries[1]["by"] = "someone else"  # the approval, rewritten
    write(log, entries)
    with pytest.raises(audit.TamperedError, match=r"^entry 2: content changed") as err:
        audit.verify(log.path)
    assert err.value.seq == 2


def test_rehashing_the_edited_entry_breaks_the_next_link(log):
    entries = lines(log)
    entries[1]["by"] = "someone else"
    entries[1]["hash"] = audit.entry_hash(entries[1])  # a careful forger
    write(log, entries)
    with pytest.raises(audit.TamperedError, match=r"^entry 3: does not follow"):
        audit.verify(log.path)


def test_deleting_or_reordering_entries_is_named(log):
    entries = lines(log)
    write(log, [entries[0], *entries[2:]])
    with pytest.raises(audit.TamperedError, match=r"^entry 2: numbered 3"):
        audit.verify(log.path)
    write(log, [entries[1], entries[0], *entries[2:]])
    with pytest.raises(audit.TamperedError, match=r"^entry 1: numbered 2"):
        audit.verify(log.path)


def test_cutting_the_end_is_caught_only_against_a_recorded_head(log):
    head = log.head()
    write(log, lines(log)[:3])
    assert audit.verify(log.path).entries == 3  # on its own, a shorter valid chain
    with pytest.raises(audit.TamperedError, match="cut off the end"):
        audit.verify(log.path, head=head)


def test_entries_past_the_recorded_head_are_named(log):
    head = audit.verify(log.path).head
    log.append("reject", by="ci", model="credit-default", version="2")
    with pytest.raises(audit.TamperedError, match="1 entries past the recorded head"):
        audit.verify(log.path, head=head)


def test_a_broken_chain_is_not_extended(log):
    entries = lines(log)
    entries[0]["why"] = "added later"
    write(log, entries)
    before = log.path.read_text()
    with pytest.raises(audit.TamperedError, match="^entry 1"):
        log.append("approve", by="x")
    assert log.path.read_text() == before


def test_bad_appends_are_refused_before_anything_is_written(tmp_path):
    log = audit.AuditLog(tmp_path / "a" / "audit.jsonl")
    with pytest.raises(ValueError, match="unknown action 'deploy'"):
        log.append("deploy", by="x")
    with pytest.raises(ValueError, match=r"reserved for the chain"):
        log.append("approve", hash="f" * 64)
    with pytest.raises(ValueError):
        log.append("approve", score=float("nan"))
    with pytest.raises(TypeError):
        log.append("approve", when=object())
    assert not log.path.exists() and log.head() == audit.GENESIS


def test_a_line_that_is_not_json_is_named(log):
    log.path.write_text(log.path.read_text() + "{not json\n")
    with pytest.raises(audit.TamperedError, match=r"^entry 5: line is not JSON"):
        audit.verify(log.path)
