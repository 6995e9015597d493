"""The README's two commands are the ones that are tested: CI runs the test command as the README prints it."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_command(after: str) -> str:
    """The first indented command line after the paragraph that starts with `after`."""
    text = (REPO / "README.md").read_text()
    return re.search(re.escape(after) + r".*?\n\n    ([^\n]+)\n", text, re.S).group(1)


def test_ci_runs_the_readme_test_command_exactly():
    command = readme_command("Run the whole test suite")
    assert command.startswith("python3 -m venv .venv && ") and "pytest" in command
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines


def test_the_readme_main_command_is_the_installer():
    assert readme_command("Install the plug-in") == "python3 install.py"
    assert (REPO / "install.py").is_file()
