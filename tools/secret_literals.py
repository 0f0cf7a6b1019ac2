"""A detect-secrets plugin: a credential variable set to a literal value.

detect-secrets' keyword detector does not see ``"PASSWORD": \\"value\\"`` inside a
notebook's JSON (the quotes are escaped) and skips values of low entropy, yet
that is how an MLflow password or an admin token reaches a notebook's stored
source or output. This detector reports any upper-case variable whose name ends
in PASSWORD, TOKEN or SECRET (``MLFLOW_TRACKING_PASSWORD``, ``MLOPS_ADMIN_TOKEN``...)
assigned a quoted literal of 8 characters or more (or a bare one in
``NAME=value`` style), in any file type. A
value read from the environment, a call (``secrets.token_urlsafe()``) or a
template (``${{ secrets.X }}``, ``$VAR``) is not a literal and is not reported.
.secrets.baseline names this file, so the pre-commit hook and
tests/test_secrets.py load it.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector

#: An environment-style name (upper case), as credentials travel.
NAME = r"\b[A-Z_]*(?:PASSWORD|PASSWD|TOKEN|SECRET)"
#: A quoted literal after ``=`` or ``:`` (the key's closing quote or bracket first).
QUOTED = r"""\\?["']?\]?\s*[=:]\s*\\?["']([^\s"'\\$]{8,})\\?["']"""
#: A bare value right after ``=``: shell, Dockerfile ``ENV`` and ``.env`` style.
BARE = r"""=([A-Za-z0-9_+/=-]{8,})(?=\s|\\|"|'|$)"""


class CredentialLiteralDetector(RegexBasedDetector):
    """A PASSWORD, TOKEN or SECRET variable assigned a literal value."""

    secret_type = "Credential variable set to a literal"  # pragma: allowlist secret
    denylist = [re.compile(f"{NAME}(?:{QUOTED}|{BARE})")]
