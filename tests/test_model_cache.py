"""The least-recently-used model cache (``serving.model_cache``, chapter 16)."""

from __future__ import annotations

import pytest

from mlops_course.serving.model_cache import DoesNotFit, ModelCache


def test_cache_evicts_least_recently_used_within_the_budget():
    sizes = {"a": 40, "b": 40, "c": 40, "huge": 200}
    cache = ModelCache(100, lambda key: (key.upper(), sizes[key]))
    assert cache.get("a") == "A" and cache.get("b") == "B"
    cache.get("a")  # a is now the most recently used
    cache.get("c")  # over budget: b (least recently used) goes
    assert cache.held() == ["a", "c"]
    assert cache.stats.evicted == ["b"] and cache.used == 80
    assert cache.stats.as_dict()["hits"] == 1
    with pytest.raises(DoesNotFit, match="budget"):
        cache.get("huge")
    assert cache.held() == ["a", "c"]  # a model that cannot fit evicts nothing
