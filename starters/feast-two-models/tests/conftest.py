"""One Feast repository per test session, in a temp copy: sources, apply, train."""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def feast_repo(tmp_path_factory):
    """(repo path, store, models, labelled events) after apply, train, materialize."""
    import models
    from feast import FeatureStore

    repo = tmp_path_factory.mktemp("feast") / "feature_repo"
    shutil.copytree(ROOT / "feature_repo", repo)
    events = models.write_data(repo)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["feast", "apply"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = FeatureStore(repo_path=str(repo))
    trained = models.train(store, events)
    start = events["event_timestamp"].min() - timedelta(days=400)
    store.materialize(start_date=start, end_date=datetime.now(UTC))
    return repo, store, trained, events
