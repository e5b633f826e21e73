"""Check the import contracts in pyproject.toml ([tool.importlinter]) with import-linter.

import-linter reads packages from disk and cannot follow setuptools' package-dir mapping (each top-level
folder is a docrobust.* package), so the installed layout is rebuilt as symbolic links in a temporary folder.
"""
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    with tempfile.TemporaryDirectory() as layout:
        for package, folder in sorted(mapping.items()):
            target = Path(layout, *package.split("."))
            if package == "docrobust":
                target.mkdir()
                (target / "__init__.py").symlink_to(ROOT / folder / "__init__.py")
            elif not target.exists():  # a subpackage of a linked folder is already there
                target.symlink_to(ROOT / folder, target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": layout}
        lint = Path(sys.executable).with_name("lint-imports")
        return subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=layout, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
