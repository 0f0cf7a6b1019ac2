"""The four DORA keys for models, from the registry's audit log (chapter 23).

Chapter 18's audit log (:mod:`mlops_course.audit`) records every promotion and
rollback with when it happened; the registered versions carry the commit they
were built from and its time (a ``git.commit_time`` tag). From those:

- **deployment frequency**: promotions per week over the period;
- **lead time for changes**: from a version's commit to its promotion (median);
- **change failure rate**: the share of promotions undone by a rollback;
- **time to restore**: from a failed promotion to the rollback that undid it
  (median over failures; None when nothing failed).

A rollback re-serves a version that was already deployed: it restores service
and is not counted as a deployment. Chapter 23 computes the keys by hand first;
this is the tested version::

    keys = dora_keys(audit_log.entries(), commit_times, start=..., end=...)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

HOUR = 3600.0


@dataclass(frozen=True)
class DoraKeys:
    """The four keys over one period, and the counts behind them."""

    deployments: int
    failures: int
    weeks: float
    deployment_frequency_per_week: float
    lead_time_hours: float | None
    change_failure_rate: float | None
    time_to_restore_hours: float | None


def _time(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: give times in UTC (+00:00)")
    return moment


def dora_keys(
    entries: Iterable[Mapping[str, Any]],
    commit_times: Mapping[str, str | datetime],
    *,
    start: str | datetime,
    end: str | datetime,
) -> DoraKeys:
    """DORA keys of the promotions between ``start`` and ``end`` in ``entries``.

    ``entries`` are audit-log entries, oldest first: ``promote`` entries carry
    ``version`` and ``at``; ``rollback`` entries carry ``version`` (the one
    restored), ``replaced`` (the one undone) and ``at``. ``commit_times`` maps a
    version to the time of the commit it was built from.
    """
    begin, finish = _time(start), _time(end)
    if finish <= begin:
        raise ValueError("the period must end after it starts")
    promotions = [
        e
        for e in entries
        if e["action"] == "promote" and begin <= _time(e["at"]) < finish
    ]
    rollbacks = [e for e in entries if e["action"] == "rollback"]
    lead = []
    for promotion in promotions:
        version = str(promotion["version"])
        if version not in commit_times:
            raise ValueError(f"version {version} has no commit time")
        lead.append(
            (_time(promotion["at"]) - _time(commit_times[version])).total_seconds()
        )
    restore = []
    for promotion in promotions:
        undone = [
            r
            for r in rollbacks
            if str(r["replaced"]) == str(promotion["version"])
            and _time(r["at"]) >= _time(promotion["at"])
        ]
        if undone:
            first = min(_time(r["at"]) for r in undone)
            restore.append((first - _time(promotion["at"])).total_seconds())
    weeks = (finish - begin).total_seconds() / (7 * 24 * HOUR)
    n = len(promotions)
    return DoraKeys(
        deployments=n,
        failures=len(restore),
        weeks=weeks,
        deployment_frequency_per_week=n / weeks,
        lead_time_hours=statistics.median(lead) / HOUR if lead else None,
        change_failure_rate=len(restore) / n if n else None,
        time_to_restore_hours=statistics.median(restore) / HOUR if restore else None,
    )


__all__ = ["DoraKeys", "dora_keys"]
