"""`pytest evals`: the suite run through the agent prompt. Options: see `pytest evals --help` (harness group)."""

from harness.pytest_plugin import (case_outcome, eval_run, pytest_addoption, pytest_configure,  # noqa: F401
                                   pytest_generate_tests, pytest_report_header, pytest_sessionfinish,
                                   pytest_terminal_summary)
