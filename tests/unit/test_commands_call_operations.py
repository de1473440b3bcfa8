"""Commands and operations call each other only through typed functions: no rebuilt argparse namespaces,
no command entry function (``set_defaults(func=...)``) called from code, no re-entry into ``cli.main``."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("commands", "operations")


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(REPO)): ast.parse(path.read_text())
        for layer in LAYERS
        for path in sorted((REPO / "iblpipe" / layer).rglob("*.py"))
    }


def _entry_functions(tree: ast.Module) -> set[str]:
    """The names a module registers as command entry points: ``parser.set_defaults(func=name)``."""
    return {
        kw.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "set_defaults"
        for kw in node.keywords
        if kw.arg == "func" and isinstance(kw.value, ast.Name)
    }


def _offences(rel: str, tree: ast.Module, entries: dict[str, set[str]]) -> list[str]:
    own = entries.get(Path(rel).stem, set()) if "commands" in Path(rel).parts else set()
    called = set(own)  # bare names that are entry points here
    modules = {"cli": {"main"}}  # module alias -> entry names reached as alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = alias.asname or alias.name
                if node.module == "iblpipe.cli" and alias.name == "main":
                    called.add(name)
                elif node.module.startswith("iblpipe.commands.") and alias.name in entries.get(
                    node.module.rsplit(".", 1)[1], set()
                ):
                    called.add(name)
                elif node.module == "iblpipe.commands" and alias.name in entries:
                    modules[name] = entries[alias.name]
                elif node.module == "iblpipe" and alias.name == "cli":
                    modules[name] = {"main"}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "Namespace":
            out.append(f"{rel}:{node.lineno} builds an argparse.Namespace")
        elif isinstance(func, ast.Name) and func.id in called:
            out.append(f"{rel}:{node.lineno} calls the command entry {func.id}()")
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in modules.get(func.value.id, set())
        ):
            out.append(f"{rel}:{node.lineno} calls {func.value.id}.{func.attr}()")
    return out


def test_no_command_calls_another_through_argparse_or_the_cli():
    trees = _modules()
    entries = {Path(rel).stem: _entry_functions(t) for rel, t in trees.items() if "commands" in Path(rel).parts}
    assert entries["demo"] == {"generate_lab", "run_demo"}  # the check sees the entry points
    assert entries["populate"] == {"run"}
    offenders = [o for rel, tree in trees.items() for o in _offences(rel, tree, entries)]
    assert offenders == []


def test_the_check_catches_what_it_forbids():
    """The old ``demo run`` (a Namespace handed to ``generate_lab``) and a re-entry into ``cli.main`` are found."""
    old = ast.parse(
        "import argparse\nfrom iblpipe import cli\n"
        "def run_demo(args):\n"
        "    gen = argparse.Namespace(out=1)\n"
        "    generate_lab(gen)\n"
        "    cli.main(['status'])\n"
        "def register(sub):\n"
        "    sub.set_defaults(func=generate_lab)\n"
    )
    entries = {"demo": {"generate_lab", "run_demo"}}
    found = _offences("iblpipe/commands/demo.py", old, entries)
    assert found == [
        "iblpipe/commands/demo.py:4 builds an argparse.Namespace",
        "iblpipe/commands/demo.py:5 calls the command entry generate_lab()",
        "iblpipe/commands/demo.py:6 calls cli.main()",
    ]
