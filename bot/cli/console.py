"""The command line's two terminals: results on stdout, progress and reports on stderr."""

from __future__ import annotations

from bot.render_terminal import TerminalConsole

# Everything printed holds user data (paths, titles, topics, error messages): never read as
# rich markup, so "[draft]" stays "[draft]" and "[/x]" is just text. Styles are Text's. Nor does
# any control character in it reach the terminal (TerminalConsole), and file names that hold
# one are printed quoted (`shown`).
out = TerminalConsole(markup=False, highlight=False)
err = TerminalConsole(stderr=True, markup=False, highlight=False, soft_wrap=True)
FAIL = ("✗ ", "red")
