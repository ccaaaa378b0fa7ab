"""harness.artifacts_check and `harness validate --strict`: artifacts that their format's parser rejects."""

from __future__ import annotations

import pytest
import yaml

from harness.artifacts_check import parse_errors
from harness.cli import main

from .conftest import ROOT, write_case


def test_each_format_reports_its_parse_error_with_a_line():
    files = {"a.yaml": "a: [1, 2\nb: 3\n", "b.json": '{"a": 1,\n}', "c.py": "def f(:\n    pass\n",
             "d.sql": "CREATE TABLE t (id INT PRIMARY KEY;\nSELECT 1;", "ok.yaml": "---\na: 1\n---\nb: 2\n",
             "ok.sql": "CREATE TABLE t (id INT PRIMARY KEY);\nSELECT id FROM t WHERE id = ?;", "e.go": "func {",
             "api.yaml": "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
                         "paths:\n  /a:\n    get:\n      responses: {}\n"
                         "components: {schemas: {A: {type: nonsense}}}\n",
             "ok-api.yaml": "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n",
             "main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n',
             "ok.tf": 'variable "a" {\n  default = 1\n}\n'}
    errs = dict(parse_errors(files, tags=["mysql"]))
    # Go has no Python parser: not checked
    assert set(errs) == {"a.yaml", "b.json", "c.py", "d.sql", "api.yaml", "main.tf"}, errs
    assert errs["api.yaml"].startswith("OpenAPI document is invalid") and "HCL does not parse" in errs["main.tf"]
    assert "line" in errs["a.yaml"] and "line 2" in errs["b.json"] and "line 1" in errs["c.py"]
    assert errs["d.sql"].startswith("SQL (mysql) does not parse")


def test_suite_parses_and_strict_validate_names_a_broken_artifact(tmp_path, capsys):
    assert main(["--root", str(ROOT), "validate", "--strict"]) == 0   # the project's own suite
    d = write_case(tmp_path / "suite", "broken-case")
    app = (d / "app.py").read_text(encoding="utf-8")
    (d / "app.py").write_text(app.replace("return 1", "return (1"), encoding="utf-8")
    capsys.readouterr()
    assert main(["--root", str(ROOT), "validate", "--strict", str(tmp_path / "suite")]) == 1
    out = capsys.readouterr().out
    assert "broken-case/app.py" in out and "Python does not parse" in out and "[artifact-parse]" in out
    # without --strict the artifacts are not parsed: no artifact-parse problem
    main(["--root", str(ROOT), "validate", str(tmp_path / "suite")])
    assert "artifact-parse" not in capsys.readouterr().out


def test_openapi_with_an_unknown_or_unquoted_version_is_an_error_not_a_crash():
    errs = dict(parse_errors({"a.yaml": "openapi: '2.9.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
                              "b.yaml": "openapi: 3.1\ninfo: {title: t, version: '1'}\npaths: {}\n"}))
    assert errs["a.yaml"].startswith("OpenAPI document is invalid")
    assert "quoted string" in errs["b.yaml"]


def test_helm_templates_are_not_parsed_as_yaml_but_workflows_are():
    """A chart's template is YAML only once `helm template` renders it; a GitHub Actions workflow's `${{ ... }}`
    expressions sit inside YAML strings, so the workflow is still parsed (and its errors named)."""
    tpl = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"w.fullname\" . }}\n  labels:\n"
           "    {{- include \"w.labels\" . | nindent 4 }}\nspec:\n  {{- if not .Values.hpa.enabled }}\n"
           "  replicas: {{ .Values.replicas }}\n  {{- end }}\n")
    with pytest.raises(yaml.YAMLError):
        list(yaml.safe_load_all(tpl))
    workflow = "on: push\njobs:\n  d:\n    runs-on: ubuntu-latest\n    env:\n      K: ${{ secrets.KEY }}\n"
    broken_workflow = workflow + "    steps:\n   - run: x\n  bad: [\n"
    errs = dict(parse_errors({"templates/deployment.yaml": tpl, "deploy.yml": workflow,
                              "broken.yml": broken_workflow}))
    assert set(errs) == {"broken.yml"} and errs["broken.yml"].startswith("YAML does not parse")
