"""The user message: request, then each artifact fenced under its path."""

from harness.cases import load_case
from harness.request import render_request, request_fingerprint

from .conftest import write_case


def test_request_then_fenced_files(tmp_path):
    d = write_case(tmp_path, "m-case", files={"app.py": "print('hi')\n",
                                              "sql/schema.sql": "CREATE TABLE t (id int);\n"},
                   yaml_text=None)
    y = (d / "case.yaml").read_text().replace("files: [app.py]", "files: [app.py, sql/schema.sql]")
    y = y.replace("lines: [1, 3]", "lines: [1, 1]").replace("lines: [5, 6]", "lines: [1, 1]")
    y = y.replace("anchors: [search_orders]", "anchors: [print]").replace("anchors: [get_order]", "anchors: [print]")
    (d / "case.yaml").write_text(y)
    msg = render_request(load_case(d))
    assert msg.startswith("Please review app.py of m-case.")
    assert "`app.py`\n```python\nprint('hi')\n```" in msg
    assert "`sql/schema.sql`\n```sql\nCREATE TABLE t (id int);\n```" in msg
    assert msg.index("app.py`") < msg.index("sql/schema.sql`")


def test_fence_outgrows_backticks_in_artifact(tmp_path):
    d = write_case(tmp_path, "f-case", files={"app.py": "doc = '''```python\nx```'''\ndef search_orders(): pass\n"
                                                          "def get_order(): pass\n"})
    y = (d / "case.yaml").read_text().replace("lines: [1, 3]", "lines: [1, 2]")
    y = y.replace("lines: [5, 6]", "lines: [3, 3]")
    (d / "case.yaml").write_text(y)
    msg = render_request(load_case(d))
    assert "````python\n" in msg and msg.rstrip().endswith("````")


def test_fingerprint_stable_and_sensitive():
    a = request_fingerprint("s", [{"role": "user", "content": "x"}])
    assert a == request_fingerprint("s", [{"role": "user", "content": "x"}])
    assert a != request_fingerprint("s2", [{"role": "user", "content": "x"}])
