"""The tenants' catalogue of models and aliases (``serving.tenant_catalogue``, ch 16).

The catalogue stores model files without reading them, so bytes stand in for
ONNX models here; ``test_tenancy.py`` serves real ones.
"""

from __future__ import annotations

import pytest

from mlops_course.serving.tenant_catalogue import Catalogue


@pytest.fixture
def catalogue(tmp_path):
    cat = Catalogue(tmp_path / "catalogue")
    meta = {"decision_threshold": 0.3}
    cat.publish("cards", "credit-default", 1, b"model-1", meta)
    cat.publish("cards", "credit-default", 2, b"model-2", meta, {"champion": 1})
    cat.set_aliases("cards", "credit-default", {"champion": 1, "challenger": 2})
    cat.publish("loans", "credit-default", 1, b"model-1", meta, {"champion": 1})
    return cat


def test_catalogue_resolves_aliases_per_tenant(catalogue):
    assert catalogue.tenants() == ["cards", "loans"]
    assert catalogue.resolve("cards", "credit-default", "challenger")[0] == 2
    assert catalogue.resolve("loans", "credit-default", "champion")[0] == 1
    with pytest.raises(LookupError, match="no alias 'challenger'"):
        catalogue.resolve("loans", "credit-default", "challenger")


def test_names_that_are_paths_are_unknown_not_files(catalogue):
    (catalogue.root / "secret.txt").write_text("not a model")
    for tenant in ("..", "../catalogue", "Cards", "cards/..", ""):
        assert not catalogue.has_tenant(tenant)
    with pytest.raises(ValueError, match="not a valid name"):
        catalogue.publish("../x", "m", 1, b"", {})
