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


def test_the_public_face_is_the_library_and_loads_neither_torch_nor_qt() -> None:
    code = ("import sys, desktop_app; from desktop_app import Library, ExportOptions, load_results; "
            "assert sorted(desktop_app.__all__) == sorted(desktop_app._PUBLIC); "
            "print(sorted(m for m in ('torch', 'open_clip', 'PySide6', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def _linter(tmp_path, leak: str, where: str) -> subprocess.CompletedProcess[str]:
    import shutil

    shutil.copytree(ROOT / "desktop_app", tmp_path / "desktop_app")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "desktop_app" / "core" / where).write_text(leak)
    linter = ROOT / ".venv" / "bin" / "lint-imports"
    cmd = [str(linter)] if linter.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})


def test_the_layers_contract_catches_an_upward_import(tmp_path) -> None:
    # Reading files must not depend on the library that uses them: the one-way data flow.
    run = _linter(tmp_path, "import desktop_app.core.library.library\n", "ingest/leak.py")
    assert run.returncode != 0 and "desktop_app.core.ingest is not allowed to import desktop_app.core.library" \
        in run.stdout


def test_no_module_imports_itself_in_a_circle() -> None:
    """Every import goes one way (annotations aside): a newcomer can read the modules bottom-up."""
    import grimp

    graph = grimp.build_graph("desktop_app", exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    cycles = []
    for module in modules:
        for other in graph.find_modules_directly_imported_by(module):
            if other != module and graph.chain_exists(importer=other, imported=module):
                cycles.append(tuple(sorted((module, other))))
    assert sorted(set(cycles)) == []
