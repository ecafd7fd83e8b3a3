"""Errors that are the user's to fix, kept apart from bugs so the CLI can treat them kindly."""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the user (bad input, missing file), not a bug in twinbench.

    The CLI prints the message as ONE line and exits with status 2 instead of showing a
    traceback, so the message must name both the problem and the fix.
    """
