"""Checks a learner calls on their own answer to a chapter's exercise.

Each chapter with exercises has a module here, ``chNN`` (``ch01b`` for
chapter 1b), imported in the chapter as ``checks``::

    from mlops_course.exercises import ch01 as checks
    checks.dearer_default(new_threshold, y_valid=y_valid, valid_proba=valid_proba)

A check is a function decorated with :func:`exercise`. Its *positional*
arguments are the learner's answers (the student notebook defines them as
``...``); its *keyword* arguments are values the chapter already computed.
It returns a :class:`Feedback` that says what is right, or what is wrong in
the terms of the lesson. A check never raises on a wrong answer: an answer of
the wrong kind gets a ``Feedback`` naming the kind expected, and an answer left
as ``...`` gets "not answered yet".
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass

#: Every check, by the exercise label it checks (``"ex-01-2"``).
REGISTRY: dict[str, Callable[..., Feedback]] = {}

MARKS = {True: "✅", False: "❌", None: "⏳"}


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``ok`` is True, False, or None (not answered)."""

    label: str
    ok: bool | None
    message: str

    def __str__(self) -> str:
        return f"{MARKS[self.ok]} {self.label}: {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {True: "#1a7f37", False: "#cf222e", None: "#6e7781"}[self.ok]
        return (
            f'<p style="border-left: 4px solid {colour}; padding-left: 0.5em">'
            f"{MARKS[self.ok]} <strong>{self.label}</strong>: "
            f"{html.escape(self.message)}</p>"
        )


class Wrong(Exception):
    """Raised inside a check to answer "wrong" with a message (not a traceback)."""


def exercise(label: str) -> Callable[[Callable[..., str]], Callable[..., Feedback]]:
    """Register a check for the exercise ``label``.

    The decorated function receives the answers and returns the message for a
    right answer; it raises :class:`Wrong` with the message for a wrong one.
    Answers left as ``...`` are "not answered yet", before the function runs.
    """

    def register(check: Callable[..., str]) -> Callable[..., Feedback]:
        if label in REGISTRY:
            raise ValueError(f"{label} already has a check: {REGISTRY[label].__name__}")

        @functools.wraps(check)
        def run(*answers, **context) -> Feedback:
            if not answers or any(a is Ellipsis for a in answers):
                return Feedback(label, None, "not answered yet: replace each `...`")
            try:
                return Feedback(label, True, check(*answers, **context))
            except Wrong as wrong:
                return Feedback(label, False, str(wrong))

        run.label = label
        REGISTRY[label] = run
        return run

    return register


def expect(condition: bool, message: str) -> None:
    """Answer "wrong" with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Wrong(message)


def expect_type(answer, kinds: type | tuple[type, ...], what: str) -> None:
    """Answer "wrong" when ``answer`` is not of ``kinds``, naming what was expected."""
    if not isinstance(answer, kinds):
        raise Wrong(f"expected {what}, got {type(answer).__name__}")
