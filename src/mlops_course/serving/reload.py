"""An opt-in admin route that reloads the served model (chapter 8).

With ``Settings(allow_reload=True)`` (``MLOPS_ALLOW_RELOAD=true``) the service
gets ``POST /admin/reload``: it loads the model the settings describe again
(for ``models:/credit-default@champion``, it resolves the alias again, so a
promotion or a rollback in the registry reaches the service) and swaps it in
with one assignment, so every request is answered by either the old or the new
model, never a mix. Loading runs in a worker thread; requests keep being
answered by the old model meanwhile. A reload that fails keeps the old model
and answers 502 with the reason; a second reload while one runs gets a 409.

The route moves production to another model, so it is authenticated: the
settings must carry ``admin_token`` (``MLOPS_ADMIN_TOKEN``, a secret that is
never logged nor shown on ``/metadata``; settings with reload on and no token
are refused, so the service does not start). A request without
``Authorization: Bearer <token>`` gets 401, one with another token 403; the
token is compared in constant time (:func:`secrets.compare_digest`), so the
answer's timing does not reveal how much of a guess was right. FastAPI's
:class:`~fastapi.security.HTTPBearer` reads the header (and documents the scheme
in OpenAPI); the 401/403 answers are ours, with a body that says what to do.

Without the setting the route does not exist and the OpenAPI document is the
one of chapters 5-7. In production one rolls new pods (or processes) instead:
each replica loads at start-up, and the orchestrator only shifts traffic to
replicas that report ready.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from mlops_course.serving.engines import ModelLoadError
from mlops_course.serving.loading import load_model
from mlops_course.serving.schemas import Problem
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving")

RELOAD_PATH = "/admin/reload"

#: FastAPI's reader of ``Authorization: Bearer <token>`` (documented in OpenAPI);
#: ``auto_error=False`` lets the route answer 401/403 itself, with a clear body.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The service's admin token (MLOPS_ADMIN_TOKEN).",
)
AdminCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class Reloaded(BaseModel):
    """The answer of a successful reload: which version was served, which is now."""

    previous_version: str | None
    model_version: str
    model_source: str
    changed: bool


RELOAD_ERRORS = {
    401: {"model": Problem, "description": "No bearer token was sent."},
    403: {"model": Problem, "description": "The bearer token is not the admin token."},
    409: {"model": Problem, "description": "Another reload is running."},
    502: {
        "model": Problem,
        "description": "The new model could not be loaded; the old one still serves.",
    },
}


def install_reload(app: FastAPI, settings: Settings) -> None:
    """Add ``POST /admin/reload`` to ``app`` if ``settings.allow_reload``."""
    if not settings.allow_reload:
        return
    if settings.admin_token is None:  # Settings refuses this; a guard all the same
        raise ValueError("allow_reload needs admin_token")
    expected = settings.admin_token.get_secret_value().encode()

    def require_admin(
        credentials: AdminCredentials,
    ) -> None:
        if credentials is None:
            logger.warning("admin reload refused: no bearer token")
            raise HTTPException(
                401,
                "admin route: send the admin token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(credentials.credentials.encode(), expected):
            logger.warning("admin reload refused: wrong bearer token")
            raise HTTPException(403, "admin route: this token is not the admin token")

    lock = asyncio.Lock()

    @app.post(
        RELOAD_PATH,
        response_model=Reloaded,
        responses=RELOAD_ERRORS,
        tags=["admin"],
        dependencies=[Depends(require_admin)],
    )
    async def reload_model() -> Reloaded:
        """Load the configured model again (alias resolved anew) and swap it in."""
        if lock.locked():
            raise HTTPException(409, "a reload is already running")
        async with lock:
            old = app.state.model
            previous = None if old is None else old.version
            try:
                new = await run_in_threadpool(load_model, settings)
            except ModelLoadError as exc:
                logger.error("reload failed, model unchanged: %s", exc)
                kept = f"still serving version {previous}" if old else "no model"
                raise HTTPException(502, f"reload failed ({kept}): {exc}") from None
            for wrap in getattr(app.state, "model_wrappers", []):
                new = wrap(new)  # e.g. the metrics' observed engine (chapter 13)
            app.state.model = new  # one assignment: requests see old or new
            app.state.model_error = None
            logger.info("model reloaded: version %s -> %s", previous, new.version)
            return Reloaded(
                previous_version=previous,
                model_version=new.version,
                model_source=new.source,
                changed=previous != new.version,
            )
