"""Long steps off a terminal: the step and each report as plain lines on stderr."""

from __future__ import annotations

import pytest

from pyfaas.cli._common import progress


def test_off_a_terminal_progress_is_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Building the image of figlet") as update:
        update("Creating virtualenv")
        update("Installing requirements.txt with pip")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Building the image of figlet...\n"
        "  Creating virtualenv\n"
        "  Installing requirements.txt with pip\n"
    )
