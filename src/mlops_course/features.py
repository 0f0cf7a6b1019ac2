"""Feature-store plumbing: Feast parquet sources and a loopback Redis (chapter 9).

:func:`write_sources` turns the generator's applications into the three
parquet files a Feast repo reads, each with its entity id and a timezone-aware
``event_timestamp``:

- ``customer_profile.parquet``: one row per customer (``customer_id``), the
  customer-level columns of the course's 13 features, known before the
  customer's first application;
- ``applications.parquet``: one row per application (``application_id``), the
  loan's own columns;
- ``customer_activity.parquet``: weekly snapshots per customer of
  ``late_payments_90d`` (late payments in the last 90 days) and
  ``utilization`` (share of the credit limit in use). A customer who
  defaults starts missing payments about a month later, so snapshots taken
  *after* a defaulted application carry the label: a join on the latest
  snapshot leaks the future, a point-in-time join does not.

:func:`plain_output` prints what a block printed without terminal colour codes
(Feast colours its ``materialize`` progress with colorama's escape codes).

:func:`redis_server` starts Debian's ``redis-server`` on 127.0.0.1 on a free
port, without persistence, waits until it answers ``PING`` and always stops it;
:func:`redis_available` says whether the binary is there.

Nothing here reads the clock or the network: the same applications and seed
give the same files on every machine.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_course.data import TARGET, TIMESTAMP_COLUMN
from mlops_course.servers import HOST, serve

#: Customer-level columns of the course's features (the customer profile view).
PROFILE_COLUMNS = [
    "age",
    "annual_income",
    "employment_years",
    "credit_history_months",
    "num_open_accounts",
    "num_late_payments_2y",
    "home_ownership",
    "region",
]
#: Application-level columns of the course's features (the application view).
APPLICATION_COLUMNS = [
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "debt_to_income",
    "loan_purpose",
]
#: Time-varying customer columns (the activity view), one snapshot a week.
ACTIVITY_COLUMNS = ["late_payments_90d", "utilization"]

SOURCE_FILES = {
    "customer_profile": "customer_profile.parquet",
    "applications": "applications.parquet",
    "customer_activity": "customer_activity.parquet",
}

#: A defaulted loan shows up as late payments from about this long after it.
DEFAULT_SHOWS_AFTER = timedelta(days=30)
#: How long before the first application a customer's profile is recorded.
PROFILE_LEAD = timedelta(days=30)


@dataclass(frozen=True)
class Sources:
    """Where :func:`write_sources` wrote each parquet file, and the data's time span."""

    customer_profile: Path
    applications: Path
    customer_activity: Path
    first_event: pd.Timestamp
    last_event: pd.Timestamp

    def paths(self) -> dict[str, Path]:
        """The three files by source name."""
        return {name: getattr(self, name) for name in SOURCE_FILES}


def customer_profiles(applications: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: its profile, stamped before its first application."""
    first = applications.sort_values(TIMESTAMP_COLUMN, kind="stable")
    profile = first.groupby("customer_id", sort=True).first().reset_index()
    profile[TIMESTAMP_COLUMN] = profile[TIMESTAMP_COLUMN] - PROFILE_LEAD
    return profile[["customer_id", TIMESTAMP_COLUMN, *PROFILE_COLUMNS]]


def application_rows(applications: pd.DataFrame) -> pd.DataFrame:
    """One row per application: its id, its customer, its time, the loan columns."""
    columns = ["application_id", "customer_id", TIMESTAMP_COLUMN, *APPLICATION_COLUMNS]
    return applications[columns].reset_index(drop=True)


def activity_snapshots(
    applications: pd.DataFrame,
    *,
    seed: int = 0,
    every: timedelta = timedelta(days=7),
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Weekly ``late_payments_90d`` and ``utilization`` per customer, up to ``until``.

    Before any default both follow the customer's history (more past late
    payments, more recent ones); from :data:`DEFAULT_SHOWS_AFTER` after a
    defaulted application on, late payments jump and utilization rises.
    ``until`` defaults to 60 days after the last application.
    """
    rng = np.random.default_rng(seed)
    apps = applications.sort_values(TIMESTAMP_COLUMN, kind="stable")
    start = apps[TIMESTAMP_COLUMN].min().floor("D") - timedelta(days=91)
    end = (
        until
        if until is not None
        else apps[TIMESTAMP_COLUMN].max() + pd.Timedelta(days=60)
    )
    grid = pd.date_range(start, end, freq=pd.Timedelta(every))
    customers = np.sort(apps["customer_id"].unique())
    history = apps.groupby("customer_id")["num_late_payments_2y"].first()
    rate = 0.05 + 0.12 * history.reindex(customers).to_numpy(dtype=float)

    n_c, n_t = len(customers), len(grid)
    late = rng.poisson(np.repeat(rate[:, None], n_t, axis=1))
    base_use = np.clip(rng.beta(2, 5, n_c) + 0.05 * rate, 0, 1)
    use = np.clip(base_use[:, None] + rng.normal(0, 0.04, (n_c, n_t)), 0, 1)

    defaults = apps[apps[TARGET] == 1]
    first_default = defaults.groupby("customer_id")[TIMESTAMP_COLUMN].min()
    shows = first_default.reindex(customers) + DEFAULT_SHOWS_AFTER
    grid_s = (grid - start).total_seconds().to_numpy()
    shows_s = (shows - start).dt.total_seconds().to_numpy()  # NaN: never defaulted
    with np.errstate(invalid="ignore"):
        after = grid_s[None, :] >= shows_s[:, None]
    late = late + after * (1 + rng.poisson(2.0, (n_c, n_t)))
    use = np.where(after, np.clip(use + 0.3, 0, 1), use)

    frame = pd.DataFrame(
        {
            "customer_id": np.repeat(customers, n_t),
            TIMESTAMP_COLUMN: np.tile(grid, n_c),
            "late_payments_90d": late.ravel().astype("int64"),
            "utilization": use.ravel().round(3),
        }
    )
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    return frame


def write_sources(
    applications: pd.DataFrame, folder: str | Path, *, seed: int = 0
) -> Sources:
    """Write the three Feast parquet sources for ``applications`` into ``folder``."""
    if applications[TIMESTAMP_COLUMN].dt.tz is None:
        raise ValueError(f"{TIMESTAMP_COLUMN} must be timezone-aware (Feast needs it)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "customer_profile": customer_profiles(applications),
        "applications": application_rows(applications),
        "customer_activity": activity_snapshots(applications, seed=seed),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / SOURCE_FILES[name]
        frame.to_parquet(paths[name], index=False)
    times = applications[TIMESTAMP_COLUMN]
    return Sources(**paths, first_event=times.min(), last_event=times.max())


#: A terminal colour or style code (``ESC [ ... m``), as colorama writes them.
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def plain_output() -> Iterator[None]:
    """Print what the block prints, once it ends, without terminal colour codes.

    Feast prints ``materialize`` progress with colorama's ``Fore``/``Style``
    codes whatever the output is (``NO_COLOR`` does not reach them), and a
    notebook would store them as raw escape bytes.
    """
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        print(ANSI_CODE.sub("", buffer.getvalue()), end="")


# --------------------------------------------------------------------------- redis
class RedisUnavailableError(RuntimeError):
    """``redis-server`` is not installed, so the Redis part cannot run."""


@dataclass(frozen=True)
class RedisServer:
    """A running redis-server: where it listens (Feast's ``connection_string``)."""

    host: str
    port: int
    pid: int

    @property
    def connection_string(self) -> str:
        """``host:port``, the form Feast's Redis online store expects."""
        return f"{self.host}:{self.port}"


def redis_binary() -> str | None:
    """Path of the ``redis-server`` on ``PATH``, or None.

    Only ``PATH`` counts, so a test can hide the program (as on a machine
    without it) by leaving its folder out of ``PATH``.
    """
    return shutil.which("redis-server")


def redis_available() -> bool:
    """True when a ``redis-server`` binary is on ``PATH``."""
    return redis_binary() is not None


def _pong(port: int) -> bool:
    import redis

    try:
        client = redis.Redis(host=HOST, port=port, socket_connect_timeout=0.5)
        with contextlib.closing(client):
            return bool(client.ping())
    except redis.exceptions.RedisError:
        return False


@contextlib.contextmanager
def redis_server(timeout: float = 20) -> Iterator[RedisServer]:
    """Run ``redis-server`` on 127.0.0.1 (no persistence) until the block ends."""
    binary = redis_binary()
    if binary is None:
        raise RedisUnavailableError(
            "redis-server is not installed: `apt-get install redis-server` (Debian), "
            "`conda install -c conda-forge redis-server`, or skip the Redis part"
        )
    workdir = Path(tempfile.mkdtemp(prefix="redis-"))
    argv = [binary, "--bind", HOST, "--port", "{port}", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"]
    try:
        with serve(
            argv, ready=_pong, timeout=timeout, log_path=workdir / "redis.log"
        ) as server:
            yield RedisServer(host=HOST, port=server.port, pid=server.pid)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
