"""One ExitCode for every command: the values the README documents, and the entry points returning them."""

from __future__ import annotations

from harness.cli import main
from harness.exitcodes import ExitCode
from harness.verdicts import exit_code

from .conftest import ROOT


def test_values_are_the_documented_ones():
    assert (ExitCode.OK, ExitCode.FAILED, ExitCode.BAD_INPUT, ExitCode.INCOMPLETE) == (0, 1, 2, 3)
    assert ExitCode.REGRESSED is ExitCode.FAILED
    assert (ExitCode.INTERRUPTED, ExitCode.TERMINATED) == (128 + 2, 128 + 15)      # SIGINT, SIGTERM


def test_the_gate_and_the_cli_return_members_of_the_enum(capsys):
    assert exit_code("regressed", complete=False) is ExitCode.REGRESSED
    assert exit_code("inconclusive", complete=False) is ExitCode.INCOMPLETE
    assert exit_code("improved") is ExitCode.OK
    assert main(["--root", str(ROOT), "run", "--cases", "no-such-case-xyz", "--dry-run"]) == ExitCode.BAD_INPUT
    assert "no-such-case-xyz" in capsys.readouterr().err
