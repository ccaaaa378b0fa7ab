"""`pytest evals`: the suite run through the agent prompt. Options: see `pytest evals --help` (harness group).

The plugin (`harness.pytest_plugin`) is loaded by the package's pytest11 entry point; naming it here too keeps a
checkout whose editable install predates the entry point working (pytest loads a plugin once by this name).
"""

from harness.options import add_pytest_aliases

pytest_plugins = ["harness.pytest_plugin"]


def pytest_addoption(parser):
    # this project's short names (--model, --cases, --epochs...) for the plugin's --harness-* options
    add_pytest_aliases(parser.getgroup("harness"))
