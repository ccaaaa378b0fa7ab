"""``harness`` command line: parse arguments, call the module that does the work, print, set the exit code.

Exit codes: 0 success; 1 the run/check found a problem it was asked to fail on (failed validation, significant
regression with --fail-on-regression); 2 bad input or configuration (a HarnessError); 3 a run finished
incomplete (errors, budget) — see README.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import HarnessError


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", help="model name (repeatable): anthropic/<id>, "
                   "openai/<model>@<base-url>, local/smollm2-135m")
    p.add_argument("--prompt", action="append", help="prompt version: a path or git:REV:PATH (repeatable)")
    p.add_argument("--cases", help="comma-separated case ids, tags or kinds; 'all' for the whole suite")
    p.add_argument("--cases-dir", metavar="DIR", help="the suite's folder (default [tool.harness] cases_dir): a "
                   "team's own cases, kept outside this project")
    p.add_argument("--epochs", type=int)
    p.add_argument("--run-dir", help="run directory (default reports/runs/<timestamp>-<id>/)")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--max-retries", type=int)
    p.add_argument("--timeout", type=float, dest="request_timeout_s")
    p.add_argument("--server-slots", type=int, metavar="N", help="requests an OpenAI-compatible server computes at "
                   "once (default: asked from llama.cpp's /props, else 1 on loopback, 2 on a private network)")
    p.add_argument("--server-context", type=int, metavar="TOKENS", help="an OpenAI-compatible server's context size "
                   "(default: asked from the server): max_tokens is fitted to what the prompt leaves")
    p.add_argument("--cache", dest="cache_mode", choices=["use", "refresh", "off", "replay-only"])
    p.add_argument("--cache-dir")
    p.add_argument("--max-cost", type=float, help="USD: stop starting samples once this would be exceeded")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--batch", action="store_true", help="send through Anthropic's Message Batches API")
    p.add_argument("--grader", action="append", dest="graders", choices=["deterministic", "judge"])
    p.add_argument("--judge-model")
    p.add_argument("--no-progress", action="store_true")


# command name -> (module, function, help, argument builder)
def _build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Prompt evaluation harness")
    parser.add_argument("--root", default=None, help="project folder holding pyproject.toml (default: search up)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run cases through prompt versions and models, grade, write a run and report")
    _add_run_options(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.set_defaults(target=("harness.commands", "cmd_run"))

    p = sub.add_parser("validate", help="check the suite (or PATH) and list every problem")
    p.add_argument("path", nargs="?")
    p.add_argument("--cases-dir", metavar="DIR", help="the same as PATH")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings as errors, and parse every YAML, JSON, Python, SQL, OpenAPI and HCL artifact")
    p.set_defaults(target=("harness.validate", "cli"))

    p = sub.add_parser("suite", help="print the suite's coverage table")
    p.add_argument("path", nargs="?")
    p.add_argument("--cases-dir", metavar="DIR", help="the same as PATH")
    p.set_defaults(target=("harness.validate", "cli_suite"))

    p = sub.add_parser("grade", help="(re-)grade a run directory")
    p.add_argument("run_dir")
    p.add_argument("--grader", action="append", dest="graders", choices=["deterministic", "judge"])
    p.add_argument("--judge-model")
    p.set_defaults(target=("harness.commands", "cmd_grade"))

    p = sub.add_parser("calibrate", help="measure a grader against human labels")
    p.add_argument("path", nargs="?", help="labelled folder (default: [tool.harness] labelled_dir, 'labelled')")
    p.add_argument("--grader", default="deterministic", choices=["deterministic", "judge"])
    p.add_argument("--judge-model")
    p.add_argument("--json", dest="json_out")
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
    p.add_argument("run_dir")
    p.add_argument("--out")
    p.add_argument("--grader", choices=["deterministic", "judge"], help="whose verdicts to score")
    p.set_defaults(target=("harness.report.report", "cli"))

    p = sub.add_parser("compare", help="compare a candidate run with a baseline run")
    p.add_argument("baseline", help="baseline run directory; several comma-separated (a,b,c) are pooled")
    p.add_argument("candidate")
    p.add_argument("--out")
    p.add_argument("--fail-on-regression", action="store_true")
    p.add_argument("--grader", choices=["deterministic", "judge"], help="whose verdicts to score")
    p.set_defaults(target=("harness.report.compare", "cli"))

    p = sub.add_parser("dashboard", help="build the nightly dashboard over a runs root")
    p.add_argument("runs_root", nargs="?")
    p.add_argument("--out", default=None)
    p.add_argument("--baseline", help="run directory or id; several comma-separated are pooled")
    p.set_defaults(target=("harness.report.dashboard", "cli"))

    p = sub.add_parser("nightly", help="run the suite, rebuild the dashboard, compare with the baseline")
    _add_run_options(p)
    p.add_argument("--baseline", help="run directory or id; several comma-separated are pooled")
    p.add_argument("--runs-root")
    p.add_argument("--dashboard-out")
    p.set_defaults(target=("harness.commands", "cmd_nightly"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script. Returns the exit code."""
    parser = _build()
    args = parser.parse_args(argv)
    module, func = args.target
    try:
        fn = getattr(importlib.import_module(module), func)
        return int(fn(args) or 0)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # A path the user gave cannot be read or written (an existing file where a folder is expected, a
        # read-only folder...): bad input, not a crash.
        print(f"harness: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
