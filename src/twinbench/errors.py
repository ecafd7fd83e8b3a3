"""Errors that are the user's to fix, kept apart from bugs so the CLI can treat them kindly."""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the user (bad input, missing file), not a bug in twinbench.

    The CLI prints the message as ONE line and exits with status 2 instead of showing a
    traceback, so the message must name both the problem and the fix.
    """


class Stopped(Exception):
    """A study that stopped before its end (Ctrl-C, results disk full); finished jobs are saved.

    Printed as one line saying how to resume; ``exit_code`` is 130 for an interrupt, 1 otherwise.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
