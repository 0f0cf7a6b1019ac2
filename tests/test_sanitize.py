"""tests/sanitize.cfg: each rule masks what it is meant to, and nothing else.

nbval applies every rule to stored and fresh outputs before comparing them, so
a rule that matches too much silently stops a lesson from being checked (the
old "every 32-hex token" rule hid chapter 6's deterministic DVC md5s). Each
rule here has examples it must change and look-alikes it must leave alone, and
a fixture notebook proves, through nbval itself, that a wrong md5 still fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from nbval.plugin import get_sanitize_patterns

from tools.nbchecks import ROOT

CONFIG = ROOT / "tests" / "sanitize.cfg"
FIXTURE = ROOT / "tests" / "fixtures" / "sanitizer_rules.ipynb"
HEX = "0123456789abcdef0123456789abcdef"  # 32 hex digits, like an md5 or a run id
DVC_MD5 = "27174acdf2e981e0a9c754b245a0b43a"  # chapter 6's seeded model.bin

#: Rule name -> (texts the rule must change, texts it must leave as they are).
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "loopback ports": (
        ["http://127.0.0.1:54321/ready", "localhost:8000"],
        ["port 8000", "10.1.2.3:8000", "3.11.16:8000"],
    ),
    'mlflow logged-model ids: "m-" and 32 hex digits, as MLflow 3 writes them': (
        [f"model_id: m-{HEX}", f"models:/m-{HEX}"],
        [f"- md5: {DVC_MD5}", f"{HEX}", f"m-{HEX}0"],
    ),
    "mlflow run ids where MLflow shows them (runs:/ URIs, /runs/ paths, run_id)": (
        [
            f"runs:/{HEX}/model",
            f"#/experiments/1/runs/{HEX}",
            f"run_id: {HEX}",
            f"'run_id': '{HEX}'",
            f"run_id={HEX}",
        ],
        [f"- md5: {DVC_MD5}", f"+- md5: {DVC_MD5}", f"commit {HEX}", HEX],
    ),
    "temporary paths (a path that starts at /tmp, not a folder named tmp)": (
        ["wrote /tmp/pytest-1/model.joblib", "'/tmp/x'"],
        ["models/tmp/model.joblib", "tmp/model", "/tmpfs/x"],
    ),
    "object addresses": (
        ["<Engine at 0x7f3a2b1c4d50>"],
        [f"- md5: {DVC_MD5}", "0x1f"],
    ),
    "chapter 8: per-row latencies in the gate's summary (the verdict stays checked)": (
        ["0.012 ms vs 0.011 ms per row, ratio 1.09"],
        ["PASS latency", "0.012 ms"],
    ),
    "pytest run time (chapter 11 runs pytest on the project it builds)": (
        ["3 passed in 0.42s", "1 failed in 12.10s"],
        ["3 passed", "passed in time"],
    ),
}


def named_rules() -> dict[str, tuple[str, str]]:
    """The rules of sanitize.cfg by section name, checked against nbval's reading."""
    text = CONFIG.read_text()
    found = re.findall(r"^\[(.+)\]\nregex: (.*)\nreplace: (.*)$", text, flags=re.M)
    rules = {name: (regex, replace) for name, regex, replace in found}
    assert sorted(rules.values()) == sorted(get_sanitize_patterns(text))
    return rules


def sanitize(text: str) -> str:
    """``text`` after every rule, in order, as nbval applies them."""
    for regex, replace in get_sanitize_patterns(CONFIG.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_every_rule_has_examples():
    assert set(named_rules()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_rule_changes_only_what_it_is_meant_to(name):
    regex, replace = named_rules()[name]
    changes, keeps = EXAMPLES[name]
    for text in changes:
        assert re.sub(regex, replace, text) != text, text
    for text in keeps:
        assert re.sub(regex, replace, text) == text, text


def test_deterministic_hashes_survive_all_rules():
    dvc_file = f"outs:\n- md5: {DVC_MD5}\n  size: 5242880\n  hash: md5\n"
    diff = f"-- md5: {DVC_MD5}\n+- md5: {HEX}\n"
    assert sanitize(dvc_file) == dvc_file and sanitize(diff) == diff
    assert sanitize(f"runs:/{HEX}/model") == "runs:/RUN_ID/model"


@pytest.mark.slow
def test_nbval_masks_run_ids_and_still_compares_md5s(tmp_path):
    shutil.copy(FIXTURE, tmp_path / FIXTURE.name)
    command = [
        sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
        f"--nbval-sanitize-with={CONFIG}", "-p", "no:cacheprovider",
        "-p", "no:xdist", "-rA", FIXTURE.name,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    assert f"PASSED {FIXTURE.name}::Cell 0" in out, out[-3000:]  # fresh ids, masked
    assert f"PASSED {FIXTURE.name}::Cell 1" in out, out[-3000:]  # same md5
    assert f"FAILED {FIXTURE.name}::Cell 2" in out, out[-3000:]  # wrong md5: caught
    assert "1 failed, 2 passed" in out, out[-1000:]
