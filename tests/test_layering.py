import subprocess
import sys


def test_core_never_imports_cli_or_gui_libraries():
    code = (
        "import sys, igtt, igtt.model, igtt.train, igtt.io, igtt.evaluate, igtt.synthetic;"
        "bad = [m for m in ('typer', 'rich', 'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'magicgui') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
