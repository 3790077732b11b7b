"""The start-command preference: one string that gives back the argv the set-up wrote, split by POSIX shell rules
or, on Windows, by the C runtime's (backslashes are path separators there). Never run through a shell."""

from __future__ import annotations

import shlex
import subprocess

from .env import is_windows


def join_command(argv: list[str], windows: bool | None = None) -> str:
    """One string for the start-command preference, quoted so that split_command gives argv back."""
    windows = is_windows() if windows is None else windows
    return subprocess.list2cmdline(argv) if windows else shlex.join(argv)


def split_command(command: str, windows: bool | None = None) -> list[str]:
    """argv from the start-command preference: POSIX shell quoting, or Windows' own rules on Windows (where
    backslashes are path separators, not escapes). Never run through a shell."""
    windows = is_windows() if windows is None else windows
    return _split_windows(command) if windows else shlex.split(command)


def _split_windows(command: str) -> list[str]:
    """The Microsoft C runtime's rules (CommandLineToArgvW), which subprocess.list2cmdline writes for: 2n
    backslashes before a quote are n backslashes and the quote delimits; 2n+1 are n and a literal quote."""
    args, cur, in_arg, quoted, i = [], [], False, False, 0
    while i < len(command):
        c = command[i]
        if c == "\\":
            n = 0
            while i < len(command) and command[i] == "\\":
                n, i = n + 1, i + 1
            if i < len(command) and command[i] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += 1
            else:
                cur.append("\\" * n)
            in_arg = True
            continue
        if c == '"':
            if quoted and i + 1 < len(command) and command[i + 1] == '"':
                cur.append('"')  # "" inside quotes is a literal quote
                i += 2
                continue
            quoted, in_arg = not quoted, True
        elif c in " \t" and not quoted:
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(cur))
    return args
