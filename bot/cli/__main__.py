"""`python -m bot.cli`: the command line, as the `briefbot` script runs it."""

from bot.cli import main

if __name__ == "__main__":  # not when merely imported (.ci/check_install.py imports every module)
    main()
