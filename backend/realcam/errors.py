"""Errors the user can act on: one line naming the file and what to do."""


class UserError(Exception):
    """Bad input or a missing resource; the CLI prints it as one line and exits 2."""
