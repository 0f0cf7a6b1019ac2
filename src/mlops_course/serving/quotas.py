"""Per-tenant quotas: token buckets and the ASGI gate answering 429 (chapter 16).

:class:`TokenBucket` and :class:`Quotas`: each tenant has ``rate`` requests per
second with bursts up to ``burst``; a request over it gets a 429 with a
``Retry-After`` header (whole seconds, at least 1, as HTTP requires), answered
by :class:`QuotaGate`, a middleware in front of routing and body validation, so
a flood over the quota costs the server as little as possible.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from mlops_course.serving.tenant_catalogue import Catalogue

ENV_QUOTAS = "MLOPS_TENANCY_QUOTAS"


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; a request takes one."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self.tokens = float(burst)
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if the request may go now, else the seconds until a token is due."""
        with self._lock:
            now = self.clock()
            elapsed = max(0.0, now - self.updated)
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Quota:
    """A tenant's allowance: ``rate`` requests per second, bursts of ``burst``."""

    rate: float
    burst: int = 1


class Quotas:
    """A bucket per tenant that has a quota; tenants without one are not limited."""

    def __init__(
        self,
        quotas: Mapping[str, Quota],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quotas = dict(quotas)
        self.buckets = {
            t: TokenBucket(q.rate, q.burst, clock) for t, q in self.quotas.items()
        }

    def wait(self, tenant: str) -> float:
        """0.0 when ``tenant`` may send now, else the seconds to wait."""
        bucket = self.buckets.get(tenant)
        return 0.0 if bucket is None else bucket.take()

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(seconds)))

    def to_env(self) -> dict[str, str]:
        """The quotas as the service's environment variable."""
        table = {t: {"rate": q.rate, "burst": q.burst} for t, q in self.quotas.items()}
        return {ENV_QUOTAS: json.dumps(table)}


def quotas_from_json(text: str) -> dict[str, Quota]:
    """``{"tenant": {"rate": 50, "burst": 10}}`` as :class:`Quota` objects."""
    table = json.loads(text) if text.strip() else {}
    return {
        t: Quota(float(q["rate"]), int(q.get("burst", 1))) for t, q in table.items()
    }


class QuotaGate:
    """Pure ASGI middleware: a tenant over its quota gets 429 before any parsing.

    Refusing in front of routing and body validation keeps a refusal cheap: the
    flood of a tenant over its quota costs the server as little as possible.

    ``on_refuse(tenant, model)`` is called for each refusal (the app counts it);
    only tenants with a quota that ``catalogue.has_tenant`` knows are limited.
    """

    def __init__(
        self,
        app: Any,
        catalogue: Catalogue,
        quotas: Quotas,
        on_refuse: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app, self.catalogue, self.quotas = app, catalogue, quotas
        self.on_refuse = on_refuse

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")  # ["", "v1", tenant, model, "predict"]
            if len(parts) == 5 and parts[1] == "v1" and parts[4] == "predict":
                tenant, model = parts[2], parts[3]
                if tenant in self.quotas.buckets and self.catalogue.has_tenant(tenant):
                    wait = self.quotas.wait(tenant)
                    if wait > 0:
                        if self.on_refuse is not None:
                            self.on_refuse(tenant, model)
                        rate = self.quotas.quotas[tenant].rate
                        refusal = JSONResponse(
                            {
                                "detail": f"tenant {tenant!r} is over its quota "
                                f"of {rate:g} requests/s"
                            },
                            429,
                            headers={"Retry-After": Quotas.retry_after(wait)},
                        )
                        await refusal(scope, receive, send)
                        return
        await self.app(scope, receive, send)
