"""The DORA keys on a history whose answers are known by hand."""

import pytest

from mlops_course.audit import AuditLog
from mlops_course.platform_metrics import dora_keys

COMMITS = {
    "1": "2025-09-01T09:00:00+00:00",
    "2": "2025-09-08T09:00:00+00:00",
    "3": "2025-09-15T09:00:00+00:00",
    "4": "2025-09-22T09:00:00+00:00",
}


@pytest.fixture
def entries(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("promote", version="1", at="2025-09-02T09:00:00+00:00")  # 24 h
    log.append("promote", version="2", at="2025-09-10T09:00:00+00:00")  # 48 h
    log.append("promote", version="3", at="2025-09-16T09:00:00+00:00")  # 24 h
    log.append(
        "rollback", version="2", replaced="3", at="2025-09-16T15:00:00+00:00"
    )  # restored after 6 h
    log.append("promote", version="4", at="2025-09-26T09:00:00+00:00")  # 96 h
    return log.entries()


def test_the_four_keys_of_a_known_history(entries):
    keys = dora_keys(
        entries,
        COMMITS,
        start="2025-09-01T00:00:00+00:00",
        end="2025-09-29T00:00:00+00:00",
    )
    assert keys.deployments == 4  # the rollback is not a deployment
    assert keys.weeks == 4
    assert keys.deployment_frequency_per_week == 1
    assert keys.lead_time_hours == 36  # median of 24, 48, 24, 96
    assert keys.failures == 1
    assert keys.change_failure_rate == 0.25
    assert keys.time_to_restore_hours == 6


def test_the_period_selects_promotions(entries):
    keys = dora_keys(
        entries,
        COMMITS,
        start="2025-09-20T00:00:00+00:00",
        end="2025-09-27T00:00:00+00:00",
    )
    assert keys.deployments == 1
    assert keys.change_failure_rate == 0
    assert keys.time_to_restore_hours is None


def test_an_empty_period_has_no_rates(entries):
    keys = dora_keys(
        entries,
        COMMITS,
        start="2025-10-01T00:00:00+00:00",
        end="2025-10-08T00:00:00+00:00",
    )
    assert keys.deployments == 0
    assert keys.lead_time_hours is None and keys.change_failure_rate is None


def test_a_version_without_a_commit_time_is_named(entries):
    with pytest.raises(ValueError, match="version 4 has no commit time"):
        dora_keys(
            entries,
            {k: v for k, v in COMMITS.items() if k != "4"},
            start="2025-09-01T00:00:00+00:00",
            end="2025-10-01T00:00:00+00:00",
        )


def test_naive_times_are_refused(entries):
    with pytest.raises(ValueError, match="no time zone"):
        dora_keys(
            entries,
            COMMITS,
            start="2025-09-01T00:00:00",
            end="2025-10-01T00:00:00+00:00",
        )
