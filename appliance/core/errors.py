"""Errors every room may raise to the person at the keyboard."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: ``parlo`` prints it as one line and exits with status 2."""
