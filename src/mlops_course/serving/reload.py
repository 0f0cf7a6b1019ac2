"""An opt-in admin route that reloads the served model (chapter 8).

With ``Settings(allow_reload=True)`` (``MLOPS_ALLOW_RELOAD=true``) the service
gets ``POST /admin/reload``: it loads the model the settings describe again
(for ``models:/credit-default@champion``, it resolves the alias again, so a
promotion or a rollback in the registry reaches the service) and swaps it in
with one assignment, so every request is answered by either the old or the new
model, never a mix. Loading runs in a worker thread; requests keep being
answered by the old model meanwhile. A reload that fails keeps the old model
and answers 502 with the reason; a second reload while one runs gets a 409.

Without the setting the route does not exist and the OpenAPI document is the
one of chapters 5-7. In production one rolls new pods (or processes) instead:
each replica loads at start-up, and the orchestrator only shifts traffic to
replicas that report ready.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from mlops_course.serving.engines import ModelLoadError
from mlops_course.serving.loading import load_model
from mlops_course.serving.schemas import Problem
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving")

RELOAD_PATH = "/admin/reload"


class Reloaded(BaseModel):
    """The answer of a successful reload: which version was served, which is now."""

    previous_version: str | None
    model_version: str
    model_source: str
    changed: bool


RELOAD_ERRORS = {
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
    lock = asyncio.Lock()

    @app.post(
        RELOAD_PATH,
        response_model=Reloaded,
        responses=RELOAD_ERRORS,
        tags=["admin"],
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
            app.state.model = new  # one assignment: requests see old or new
            app.state.model_error = None
            logger.info("model reloaded: version %s -> %s", previous, new.version)
            return Reloaded(
                previous_version=previous,
                model_version=new.version,
                model_source=new.source,
                changed=previous != new.version,
            )
