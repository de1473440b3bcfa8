"""Importing iblpipe has no side effects; pure layers never import datajoint."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PURE = ("compute", "sources", "plotting", "demo")


def all_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "iblpipe").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


def test_importing_every_module_opens_no_connection_and_creates_nothing(tmp_path):
    home = tmp_path / "home-must-not-exist"
    code = f"""
import socket, importlib, os, sys
calls = []
real_connect = socket.socket.connect
def spy(self, *a, **k):
    calls.append(a)
    raise OSError("no connections at import time")
socket.socket.connect = spy
import pymysql
def no_pymysql(*a, **k):
    calls.append(("pymysql", a, k))
    raise RuntimeError("pymysql.connect at import")
pymysql.connect = no_pymysql
environ = dict(os.environ)
for name in {all_modules()!r}:
    importlib.import_module(name)
import logging
assert not calls, calls
assert dict(os.environ) == environ, "import changed os.environ"
import matplotlib, datajoint
assert matplotlib.rcParams["backend"] == "svg", "import switched the matplotlib backend"
assert datajoint.config["safemode"] is True, "import changed DataJoint's safemode"
assert not os.path.exists({str(home)!r}), "import created IBLPIPE_HOME"
handlers = [h for h in logging.getLogger().handlers]
assert not handlers, handlers
print("ok", len({all_modules()!r}))
"""
    env = {
        "PYTHONPATH": str(REPO),
        "IBLPIPE_HOME": str(home),
        "DJ_IGNORE_CONFIG_FILE": "true",
        "PATH": "/usr/bin:/bin",
        "MPLBACKEND": "svg",  # an analyst's backend: importing iblpipe must not switch it
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_never_import_datajoint(package):
    """Static check: no `import datajoint` anywhere under the pure packages."""
    offenders = []
    for path in (REPO / "iblpipe" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "datajoint" or "schemas" in n]
    assert offenders == []


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_do_not_pull_datajoint_at_runtime(package):
    """Dynamic check: importing every module of the package leaves datajoint out of sys.modules."""
    mods = [m for m in all_modules() if m.startswith(f"iblpipe.{package}")]
    code = f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\nprint('datajoint' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_no_print_outside_cli():
    offenders = []
    for path in (REPO / "iblpipe").rglob("*.py"):
        if path.name == "cli.py" or "commands" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


# (module, function) allowed to change a piece of global state, and why
GLOBAL_STATE_ALLOWED = {
    ("iblpipe/connection.py", "connect", "dj.config"): "the connection settings DataJoint connects with",
    ("iblpipe/connection.py", "revive_embedded", "dj.config"): "the restarted embedded server's port",
    ("iblpipe/dbserver.py", "serving", "os.environ"): "a test/benchmark server's DJ_* for its block, restored after",
}


def _is_attr(node, owner_names: tuple[str, ...], attr: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attr
        and isinstance(node.value, ast.Name)
        and node.value.id in owner_names
    )


def global_state_changes(tree: ast.Module) -> list[tuple[str, int, str]]:
    """(function, line, what) for each ``matplotlib.use(``, ``logging.basicConfig(``, ``dj.config[...] =`` and
    ``os.environ`` write (item assignment, ``update``, ``setdefault``, ``pop``) in ``tree``."""
    found = []

    def visit(node, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                func = child.func
                if _is_attr(func, ("matplotlib", "mpl"), "use"):
                    found.append((function, child.lineno, "matplotlib.use"))
                elif _is_attr(func, ("logging",), "basicConfig"):
                    found.append((function, child.lineno, "logging.basicConfig"))
                elif isinstance(func, ast.Attribute) and func.attr in ("update", "setdefault", "pop", "clear"):
                    if _is_attr(func.value, ("os",), "environ"):
                        found.append((function, child.lineno, "os.environ"))
                    elif _is_attr(func.value, ("dj", "datajoint"), "config"):
                        found.append((function, child.lineno, "dj.config"))
            elif isinstance(child, ast.Assign | ast.AugAssign | ast.Delete):
                targets = child.targets if isinstance(child, ast.Assign | ast.Delete) else [child.target]
                for target in targets:
                    if isinstance(target, ast.Subscript):
                        if _is_attr(target.value, ("os",), "environ"):
                            found.append((function, child.lineno, "os.environ"))
                        elif _is_attr(target.value, ("dj", "datajoint"), "config"):
                            found.append((function, child.lineno, "dj.config"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_global_state_changes_outside_the_cli():
    """Only ``cli.py`` and ``commands/`` (a command's own process) switch backends, configure logging or write
    DataJoint's config or the environment; library code an analyst imports leaves them alone."""
    offenders = []
    for path in sorted((REPO / "iblpipe").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        if path.name == "cli.py" or "commands" in path.parts:
            continue
        for function, line, what in global_state_changes(ast.parse(path.read_text())):
            if (rel, function, what) not in GLOBAL_STATE_ALLOWED:
                offenders.append(f"{rel}:{line} {what} in {function}")
    assert offenders == []


def test_the_global_state_check_finds_each_kind():
    code = (
        "import matplotlib, logging, os\nimport datajoint as dj\n"
        "matplotlib.use('Agg')\n"
        "def f():\n"
        "    logging.basicConfig()\n"
        "    dj.config['safemode'] = False\n"
        "    os.environ['X'] = '1'\n"
        "    os.environ.update(Y='2')\n"
    )
    assert global_state_changes(ast.parse(code)) == [
        ("<module>", 3, "matplotlib.use"),
        ("f", 5, "logging.basicConfig"),
        ("f", 6, "dj.config"),
        ("f", 7, "os.environ"),
        ("f", 8, "os.environ"),
    ]
