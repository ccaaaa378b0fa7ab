"""``harness`` command line: parse arguments, call the module that does the work, print, set the exit code.

Exit codes (:class:`harness.exitcodes.ExitCode`): 0 success; 1 the run/check found a problem it was asked to fail
on (failed validation, significant regression with --fail-on-regression); 2 bad input or configuration (a
HarnessError); 3 a run finished incomplete (errors, budget); 130 / 143 interrupted (Ctrl-C / SIGTERM) — see README.
The run options of ``run`` and ``nightly`` come from :mod:`harness.options` (shared with ``pytest evals``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import HarnessError
from .exitcodes import ExitCode
from .options import NIGHTLY, RUN, add_cli_options
from .graders.registry import DEFAULT_GRADER, NAMES as GRADER_NAMES


# command name -> (module, function, help, argument builder)
def _build() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="harness", description="Prompt evaluation harness")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("--root", default=None, help="project folder holding pyproject.toml (default: search up)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run cases through prompt versions and models, grade, write a run and report")
    add_cli_options(p, RUN)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (cases, prompt versions, models, samples, estimated cost) and send nothing")
    p.set_defaults(target=("harness.commands", "cmd_run"))

    p = sub.add_parser("validate", help="check the suite (or PATH) and list every problem")
    p.add_argument("path", nargs="?", help="the suite's folder or one case's folder (default [tool.harness] "
                   "cases_dir)")
    p.add_argument("--cases-dir", metavar="DIR", help="the same as PATH")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings as errors, and parse every YAML, JSON, Python, SQL, OpenAPI and HCL artifact")
    p.set_defaults(target=("harness.validate", "cli"))

    p = sub.add_parser("suite", help="print the suite's coverage table")
    p.add_argument("path", nargs="?", help="the suite's folder (default [tool.harness] cases_dir)")
    p.add_argument("--cases-dir", metavar="DIR", help="the same as PATH")
    p.set_defaults(target=("harness.validate", "cli_suite"))

    p = sub.add_parser("grade", help="(re-)grade a run directory")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--grader", action="append", dest="graders", choices=GRADER_NAMES,
                   help="grader to run (repeatable; default [tool.harness] graders)")
    p.add_argument("--judge-model", help="model of the LLM judge")
    p.add_argument("--baseline", help="baseline run directory or id to gate the re-graded run against; several "
                   "comma-separated (a,b,c) are pooled")
    p.add_argument("--cases-dir", metavar="DIR", help="the suite's folder (default: the one the run was made with, "
                   "recorded in its run.json; else [tool.harness] cases_dir)")
    p.set_defaults(target=("harness.commands", "cmd_grade"))

    p = sub.add_parser("calibrate", help="measure a grader against human labels")
    p.add_argument("path", nargs="?", help="labelled folder (default: [tool.harness] labelled_dir, 'labelled')")
    p.add_argument("--grader", default=DEFAULT_GRADER, choices=GRADER_NAMES,
                   help="the grader to measure (default deterministic)")
    p.add_argument("--judge-model", help="model of the LLM judge")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--split", choices=["all", "tune", "report"], default=None,
                   help="part of the corpus (its split.yaml); default: report when the folder has a split.yaml")
    p.add_argument("--leave-cases-out", type=int, metavar="K", dest="folds",
                   help="also estimate agreement with the semantic thresholds fitted on other cases (K folds)")
    p.add_argument("--labels-agreement", action="store_true",
                   help="agreement between the two labelings (labels.yaml, labels2.yaml) instead of a grader")
    p.add_argument("--write", action="store_true",
                   help="record the figures ([tool.harness] calibration_record) for the reports to state")
    p.set_defaults(target=("harness.graders.calibrate", "cli"))

    p = sub.add_parser("report", help="write the markdown and HTML report of a run")
    p.add_argument("run_dir", help="the run directory (reports/runs/<run>)")
    p.add_argument("--out", help="folder for report.md and report.html, or a path ending in .md/.html "
                   "(default <reports_dir>/<run folder name>/)")
    p.add_argument("--grader", choices=GRADER_NAMES, help="whose verdicts to score")
    p.add_argument("--case", action="append", dest="cases", metavar="ID",
                   help="the sample view shows only this case, with every sample of it (repeatable)")
    p.set_defaults(target=("harness.report.report", "cli"))

    p = sub.add_parser("compare", help="compare a candidate run with a baseline run")
    p.add_argument("baseline", help="baseline run directory; several comma-separated (a,b,c) are pooled")
    p.add_argument("candidate", nargs="?", help="candidate run directory; without it, BASELINE is one run whose two "
                   "variants (prompt versions or models) are compared with each other, the first it ran as baseline")
    p.add_argument("--baseline-variant", metavar="VARIANT", help="the baseline's variant ('v1 · MODEL') when a run "
                   "holds several")
    p.add_argument("--candidate-variant", metavar="VARIANT", help="the candidate's variant when a run holds several")
    p.add_argument("--out", help="folder for compare.md and compare.html, or a path ending in .md/.html")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when the verdict is regressed (3 when the candidate run is incomplete)")
    p.add_argument("--grader", choices=GRADER_NAMES, help="whose verdicts to score")
    p.set_defaults(target=("harness.report.compare", "cli"))

    p = sub.add_parser("dashboard", help="build the nightly dashboard over a runs root")
    p.add_argument("runs_root", nargs="?", help="folder of the nightly runs (default [tool.harness] runs_root)")
    p.add_argument("--out", default=None, help="folder for index.html (default reports/dashboard/)")
    p.add_argument("--baseline", help="run directory or id; several comma-separated are pooled")
    p.set_defaults(target=("harness.report.dashboard", "cli"))

    p = sub.add_parser("nightly", help="run the suite, rebuild the dashboard, compare with the baseline")
    add_cli_options(p, NIGHTLY)
    p.add_argument("--runs-root", help="folder of the nightly runs (default [tool.harness] runs_root)")
    p.add_argument("--dashboard-out", help="folder for the dashboard (default reports/dashboard/)")
    p.set_defaults(target=("harness.commands", "cmd_nightly"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script. Returns the exit code."""
    parser = _build()
    args = parser.parse_args(argv)
    module, func = args.target
    try:
        fn = getattr(importlib.import_module(module), func)
        return int(fn(args) or ExitCode.OK)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except OSError as e:
        # A path the user gave cannot be read or written (an existing file where a folder is expected, a
        # read-only folder...): bad input, not a crash.
        print(f"harness: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt as e:
        # Ctrl-C or SIGTERM: the run marked itself interrupted; say how to continue it
        how = getattr(e, "how", "Ctrl-C")
        run_dir = getattr(e, "run_dir", None)
        print(f"harness: interrupted ({how})" + (f"; what was recorded is kept; continue with: harness run --resume "
                                                 f"{run_dir}" if run_dir else ""), file=sys.stderr)
        if run_dir:
            from .records import RunDir
            from .unrecorded import stop_account
            try:
                account = stop_account(RunDir.open(run_dir).manifest.summary or {})
            except Exception:  # noqa: BLE001 - the folder is what it is; the resume command above is what matters
                account = None
            if account:
                print(f"harness: {account}", file=sys.stderr)
        return ExitCode.TERMINATED if how == "SIGTERM" else ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
