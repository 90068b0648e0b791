"""`python -m phasegate`: the `phasegate` command, for a venv whose scripts are not on PATH."""

from phasegate.tui.cli.main import entry

if __name__ == "__main__":
    entry()
