"""One MLflow server for several teams: basic auth, workspaces, roles (chapter 16).

:func:`auth_mlflow_server` runs the real ``mlflow server --app-name basic-auth
--enable-workspaces`` (the ``mlflow[auth]`` extra) on SQLite, on 127.0.0.1 and a
free port, through :func:`mlops_course.tracking.mlflow_server`'s argument list
and :func:`mlops_course.servers.serve`, and always stops it. What it sets up:

- an auth configuration file (``MLFLOW_AUTH_CONFIG_PATH``) with
  ``default_permission = NO_PERMISSIONS``: a user sees nothing until a role
  grants it (MLflow's own default is ``READ`` on everything);
- the admin password from ``MLFLOW_AUTH_ADMIN_PASSWORD`` (MLflow ships none and
  refuses to start without one of 12 or more characters) and a random
  ``MLFLOW_FLASK_SERVER_SECRET_KEY`` (the CSRF key the auth app requires);
- successful password checks remembered for 60 s (``auth_cache_ttl_seconds``:
  each check is a deliberately slow hash, paid on every request otherwise);
- no job runner, no telemetry, one worker (:data:`tracking.SERVER_ENV`).

Users, workspaces and roles are the lesson: the chapter creates them with
MLflow's own API (``mlflow.create_workspace``,
``mlflow.server.get_app_client("basic-auth", ...)``). :func:`credentials` sets
the user MLflow's client sends for the length of a ``with`` block, and
:func:`quiet_auth_client` silences the one deprecation warning that importing
MLflow's auth client raises from MLflow's own code.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from mlops_course.servers import Server, serve
from mlops_course.tracking import SERVER_ENV, mlflow_server_args

#: Least privilege: nobody sees or changes anything that no role grants them.
DEFAULT_PERMISSION = "NO_PERMISSIONS"
ADMIN = "admin"
#: MLflow's own minimum length for a password (``_validate_password``).
MIN_PASSWORD_LENGTH = 12


def auth_config_text(folder: str | os.PathLike, default_permission: str) -> str:
    """The ``[mlflow]`` section of the auth app's configuration file."""
    database = Path(folder).resolve() / "basic_auth.db"
    return (
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{database}\n"
        f"admin_username = {ADMIN}\n"
        "grant_default_workspace_access = false\n"
        # Each request's password check is a deliberately slow hash: remember a
        # successful check for 60 s (a changed password may work that long).
        "auth_cache_ttl_seconds = 60\n"
    )


def write_auth_config(
    folder: str | os.PathLike, default_permission: str = DEFAULT_PERMISSION
) -> Path:
    """Write ``folder/basic_auth.ini`` (no password in it) and return its path."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "basic_auth.ini"
    path.write_text(auth_config_text(folder, default_permission))
    return path


def auth_server_args(folder: str | os.PathLike) -> list[str]:
    """``mlflow server`` with basic auth and workspaces (``{host}``, ``{port}``)."""
    return [
        *mlflow_server_args(Path(folder).resolve()),
        "--app-name",
        "basic-auth",
        "--enable-workspaces",
    ]


def new_password() -> str:
    """A random password MLflow accepts (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


@contextlib.contextmanager
def auth_mlflow_server(
    folder: str | os.PathLike,
    admin_password: str,
    *,
    default_permission: str = DEFAULT_PERMISSION,
    timeout: float = 240,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run MLflow's tracking server with basic auth and workspaces; yield it.

    Tracking data goes to ``folder/mlflow.db``, users and permissions to
    ``folder/basic_auth.db``, artifacts to ``folder/artifacts``, the log to
    ``folder/server.log``. ``/health`` answers without credentials.
    """
    if len(admin_password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"MLflow needs an admin password of {MIN_PASSWORD_LENGTH}+ characters"
        )
    folder = Path(folder).resolve()
    config = write_auth_config(folder, default_permission)
    server_env = {
        **SERVER_ENV,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
        **(env or {}),
    }
    with serve(
        auth_server_args(folder),
        health="/health",
        timeout=timeout,
        env=server_env,
        cwd=folder,
        log_path=folder / "server.log",
    ) as server:
        yield server


@contextlib.contextmanager
def credentials(username: str, password: str) -> Iterator[None]:
    """MLflow's client sends ``username``/``password`` inside the block."""
    names = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict(zip(names, (username, password), strict=True)))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def quiet_auth_client() -> None:
    """Ignore the deprecation MLflow's auth client import raises from MLflow's code.

    ``mlflow.server.get_app_client("basic-auth", ...)`` imports
    ``mlflow.server.fastapi_app``, which imports ``starlette.middleware.wsgi``;
    Starlette warns that module is deprecated (a ``UserWarning`` subclass). The
    filter matches that message from that module only.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"starlette\.middleware\.wsgi is deprecated",
        category=UserWarning,
        module=r"mlflow\.server\.fastapi_app",
    )
