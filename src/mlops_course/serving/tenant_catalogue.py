"""The tenants' catalogue: models and aliases in a folder (chapter 16).

The folder a platform's deploy step fills, one sub-folder per tenant and
model::

    <root>/<tenant>/<model>/aliases.json        {"champion": 3, "challenger": 4}
    <root>/<tenant>/<model>/<version>/model.onnx (+ model.onnx.metadata.json)

Names are checked against :data:`NAME` before any path is built, so a name
such as ``../other-team`` is an unknown name (404), never a path.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_course.serving.loading import metadata_path

#: Tenant, model and alias names: lowercase letters, digits and inner hyphens.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_ALIAS = "champion"
MODEL_FILE = "model.onnx"
ALIASES_FILE = "aliases.json"


class NotFound(LookupError):
    """A tenant, model or alias that the catalogue does not have; the 404's text."""


class Catalogue:
    """Tenants' models and aliases in a folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def tenants(self) -> list[str]:
        """The tenants with at least one model folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME.match(p.name))

    def _tenant_dir(self, tenant: str) -> Path:
        folder = self.root / tenant
        if not NAME.match(tenant) or not folder.is_dir():
            raise NotFound(f"unknown tenant {tenant!r}")
        return folder

    def has_tenant(self, tenant: str) -> bool:
        """True when ``tenant`` is a valid name with a folder."""
        return bool(NAME.match(tenant)) and (self.root / tenant).is_dir()

    def has_model(self, tenant: str, model: str) -> bool:
        """True when the tenant has a model of that name."""
        return (
            self.has_tenant(tenant)
            and bool(NAME.match(model))
            and (self.root / tenant / model / ALIASES_FILE).is_file()
        )

    def models(self, tenant: str) -> list[str]:
        """The tenant's model names."""
        folder = self._tenant_dir(tenant)
        return sorted(
            p.name
            for p in folder.iterdir()
            if NAME.match(p.name) and (p / ALIASES_FILE).is_file()
        )

    def aliases(self, tenant: str, model: str) -> dict[str, int]:
        """The model's aliases and the version each points to."""
        folder = self._tenant_dir(tenant) / model
        if not NAME.match(model) or not (folder / ALIASES_FILE).is_file():
            known = ", ".join(self.models(tenant)) or "none"
            raise NotFound(
                f"tenant {tenant!r} has no model {model!r} (its models: {known})"
            )
        table = json.loads((folder / ALIASES_FILE).read_text())
        return {k: int(v) for k, v in table.items()}

    def resolve(self, tenant: str, model: str, alias: str) -> tuple[int, Path]:
        """The version ``alias`` points to for the tenant's model, and its file."""
        aliases = self.aliases(tenant, model)
        if alias not in aliases:
            known = ", ".join(sorted(aliases)) or "none"
            raise NotFound(
                f"model {model!r} of tenant {tenant!r} has no alias {alias!r} "
                f"(its aliases: {known})"
            )
        version = aliases[alias]
        path = self.root / tenant / model / str(version) / MODEL_FILE
        if not path.is_file():
            raise NotFound(f"version {version} of {tenant}/{model} has no model file")
        return version, path

    def publish(
        self,
        tenant: str,
        model: str,
        version: int,
        onnx: bytes,
        metadata: Mapping[str, Any],
        aliases: Mapping[str, int] | None = None,
    ) -> Path:
        """Write one model version (and, if given, the aliases): the deploy step."""
        for name in (tenant, model):
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not a valid name ({NAME.pattern})")
        folder = self.root / tenant / model
        path = folder / str(int(version)) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(onnx)
        metadata_path(path).write_text(json.dumps(dict(metadata)))
        if aliases is not None:
            self.set_aliases(tenant, model, aliases)
        return path

    def set_aliases(self, tenant: str, model: str, aliases: Mapping[str, int]) -> None:
        """Point the model's aliases at versions (written atomically)."""
        for alias in aliases:
            if not NAME.match(alias):
                raise ValueError(f"{alias!r} is not a valid alias ({NAME.pattern})")
        folder = self.root / tenant / model
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / (ALIASES_FILE + ".tmp")
        temporary.write_text(json.dumps({k: int(v) for k, v in aliases.items()}))
        temporary.replace(folder / ALIASES_FILE)
