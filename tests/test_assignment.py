"""Sticky assignment: a customer's variant, by hash, across restarts (chapter 12)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from mlops_course.serving import assignment


def test_bucket_is_sha256_of_salt_and_customer():
    digest = hashlib.sha256(b"exp-1:C0000042").digest()
    assert (
        assignment.bucket("C0000042", "exp-1")
        == int.from_bytes(digest[:8], "big") % 10_000
    )
    assert assignment.bucket("C0000042", "exp-1") != assignment.bucket(
        "C0000042", "exp-2"
    )


def test_assignment_survives_a_restart_with_another_hash_seed():
    ids = [f"C{i:07d}" for i in range(50)]
    code = (
        "import json,sys; from mlops_course.serving.assignment import assign;"
        "print(json.dumps([assign(c, 'exp', 0.5) for c in json.loads(sys.argv[1])]))"
    )
    env = {"PYTHONHASHSEED": "random"}
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ids)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    assert json.loads(run.stdout) == [assignment.assign(c, "exp", 0.5) for c in ids]


def test_split_follows_the_share_and_only_grows():
    ids = [f"C{i:07d}" for i in range(20_000)]
    at = {
        s: {c for c in ids if assignment.assign(c, "exp", s) == "challenger"}
        for s in (0.0, 0.05, 0.25, 0.5, 1.0)
    }
    assert len(at[0.0]) == 0 and len(at[1.0]) == len(ids)
    for share in (0.05, 0.25, 0.5):
        assert abs(len(at[share]) / len(ids) - share) < 0.015
    assert at[0.05] <= at[0.25] <= at[0.5]  # raising the share never moves anyone back
    with pytest.raises(ValueError, match="challenger_share"):
        assignment.assign("C1", "exp", 1.5)
