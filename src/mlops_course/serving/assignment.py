"""Sticky assignment of customers to the primary model or the challenger.

``sha256(salt:customer_id)`` picks one of 10,000 buckets; buckets below
``challenger_share * 10,000`` go to the challenger, so a customer keeps the same
variant across requests and restarts, and raising the share only moves customers
from primary to challenger, never back. Chapter 12 builds it small, then uses it.
"""

from __future__ import annotations

import hashlib
from typing import Literal

#: Customers are hashed into this many buckets (a share is set to 0.01%).
BUCKETS = 10_000
PRIMARY, CHALLENGER = "primary", "challenger"
Variant = Literal["primary", "challenger"]


def bucket(customer_id: str, salt: str) -> int:
    """The customer's bucket in ``[0, BUCKETS)``: sha256 of ``salt:customer_id``."""
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(customer_id: str, salt: str, challenger_share: float) -> Variant:
    """The variant that serves this customer at this challenger share (sticky)."""
    if not 0 <= challenger_share <= 1:
        raise ValueError(f"challenger_share must be in [0, 1], got {challenger_share}")
    cut = round(challenger_share * BUCKETS)
    return CHALLENGER if bucket(customer_id, salt) < cut else PRIMARY


__all__ = ["BUCKETS", "CHALLENGER", "PRIMARY", "Variant", "assign", "bucket"]
