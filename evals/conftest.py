"""`pytest evals`: the suite run through the agent prompt. Options: see `pytest evals --help` (harness group)."""

from harness.pytest_plugin import (case_outcome, eval_run, pytest_addoption, pytest_configure,  # noqa: F401
                                   pytest_generate_tests, pytest_report_header, pytest_sessionfinish,
                                   pytest_terminal_summary)
# -k / node-id selection narrows the run; under pytest-xdist the controller runs it once
from harness.pytest_plugin import (pytest_collection_finish, pytest_configure_node,  # noqa: F401
                                   pytest_xdist_node_collection_finished)
