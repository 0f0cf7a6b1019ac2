"""Two teams on one MLflow server, isolated by MLflow's own auth (chapter 16).

The slow test starts the real ``mlflow server --app-name basic-auth
--enable-workspaces`` and fails if a request that must be refused (403) is
answered, or one that must be answered is refused.
"""

from __future__ import annotations

import os

import pytest

from mlops_course import shared_tracking
from mlops_course.servers import port_is_open


def test_config_denies_by_default_and_holds_no_password(tmp_path):
    path = shared_tracking.write_auth_config(tmp_path)
    text = path.read_text()
    assert "default_permission = NO_PERMISSIONS" in text
    assert f"sqlite:///{tmp_path.resolve() / 'basic_auth.db'}" in text
    assert "password" not in text


def test_server_args_add_auth_and_workspaces(tmp_path):
    args = shared_tracking.auth_server_args(tmp_path)
    assert args[args.index("--app-name") + 1] == "basic-auth"
    assert "--enable-workspaces" in args
    assert args[args.index("--workers") + 1] == "1"


def test_a_short_admin_password_is_refused_before_starting(tmp_path):
    with (
        pytest.raises(ValueError, match="12"),
        shared_tracking.auth_mlflow_server(tmp_path, "short"),
    ):
        pass
    assert not (tmp_path / "server.log").exists()


def test_credentials_are_restored_after_the_block():
    os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
    with shared_tracking.credentials("alice", "x" * 12):
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert "MLFLOW_TRACKING_USERNAME" not in os.environ
    assert len(shared_tracking.new_password()) >= 12


def status_of(call) -> int:
    """200 when ``call`` succeeds, else the HTTP status MLflow's client got."""
    from mlflow.exceptions import MlflowException

    try:
        call()
    except MlflowException as error:
        return error.get_http_status_code()
    return 200


@pytest.mark.slow
def test_two_teams_are_isolated_on_one_real_server(tmp_path):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.server import get_app_client

    shared_tracking.quiet_auth_client()
    admin = shared_tracking.new_password()
    pw = {u: shared_tracking.new_password() for u in ("alice", "bob", "carol")}
    with shared_tracking.auth_mlflow_server(tmp_path, admin) as server:
        mlflow.set_tracking_uri(server.url)
        try:
            with shared_tracking.credentials("admin", admin):
                for team in ("team-a", "team-b"):
                    mlflow.create_workspace(team)
                auth = get_app_client("basic-auth", tracking_uri=server.url)
                for user, password in pw.items():
                    auth.create_user(user, password)
                for team, user, grant in [
                    ("team-a", "alice", "EDIT"),
                    ("team-b", "bob", "EDIT"),
                    ("team-a", "carol", "READ"),
                ]:
                    role = auth.create_role(team, f"{user}-role")
                    if grant == "EDIT":
                        auth.add_role_permission(role.id, "workspace", "*", "USE")
                    for kind in ("experiment", "registered_model"):
                        auth.add_role_permission(role.id, kind, "*", grant)
                    auth.assign_role(user, role.id)
            with shared_tracking.credentials("alice", pw["alice"]):
                mlflow.set_workspace("team-a")
                a_id = MlflowClient().create_experiment("credit-default")
                assert status_of(lambda: MlflowClient().create_run(a_id)) == 200
            with shared_tracking.credentials("bob", pw["bob"]):
                mlflow.set_workspace("team-b")
                assert status_of(lambda: MlflowClient().create_experiment("x")) == 200
                mlflow.set_workspace("team-a")
                client = MlflowClient()
                assert status_of(lambda: client.create_run(a_id)) == 403
                assert status_of(lambda: client.create_experiment("y")) == 403
                assert status_of(lambda: client.get_experiment(a_id)) == 403
                assert [w.name for w in mlflow.list_workspaces()] == ["team-b"]
            with shared_tracking.credentials("carol", pw["carol"]):
                mlflow.set_workspace("team-a")
                client = MlflowClient()
                assert status_of(lambda: client.get_experiment(a_id)) == 200
                assert status_of(lambda: client.create_run(a_id)) == 403
            with shared_tracking.credentials("alice", "wrong-password-123"):
                mlflow.set_workspace("team-a")
                assert status_of(lambda: MlflowClient().get_experiment(a_id)) == 401
        finally:
            mlflow.set_workspace(None)
            mlflow.set_tracking_uri(None)
    assert not port_is_open(server.port)
