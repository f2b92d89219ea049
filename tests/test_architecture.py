"""Core stays light and Qt-free (import-linter enforces the Qt rule in the test command too)."""

import subprocess
import sys

from conftest import ROOT


def test_importing_core_and_cli_loads_neither_torch_nor_qt() -> None:
    code = ("import sys, desktop_app.cli, desktop_app.core.embedding.pipeline; "
            "print(sorted(m for m in ('torch', 'open_clip', 'PySide6', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_import_linter_contract_catches_a_qt_import_in_core(tmp_path) -> None:
    # Prove the contract can fail: a copy of the package with a forbidden import must be reported.
    import shutil

    shutil.copytree(ROOT / "desktop_app", tmp_path / "desktop_app")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "desktop_app" / "core" / "leak.py").write_text("import desktop_app.gui\n")
    linter = ROOT / ".venv" / "bin" / "lint-imports"
    cmd = [str(linter)] if linter.exists() else [sys.executable, "-m", "importlinter.cli"]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode != 0 and "BROKEN" in run.stdout
