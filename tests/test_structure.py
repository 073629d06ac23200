"""The package's shape: modules form a DAG (no import cycles, also through imports inside
functions), and `import mmdiff` plus every submodule imports. Module length is reported (the
longest modules are printed), not enforced: a module is split by idea, not by its line count."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mmdiff"
LONG_MODULE = 360        # lines: past this a module is flagged in the report to look at
REPORT_TOP = 8


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.AST, here: str) -> list[str]:
    """The kit modules an import statement loads (a ``from pkg import sub`` names ``pkg.sub``
    when ``sub`` is a module, else ``pkg``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:                                     # relative import
            pkg = here if MODULES[here].name == "__init__.py" else here.rpartition(".")[0]
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}" if base else pkg
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                 for a in node.names]
    else:
        return []
    return [n for n in names if n in MODULES and n != here]


def import_graph() -> dict[str, set[str]]:
    """module -> the kit modules it imports anywhere in its source (functions included)."""
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        graph[name] = {t for node in ast.walk(tree) for t in _targets(node, name)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None when the graph is a DAG."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_evaluate_does_not_import_train():
    graph = import_graph()
    assert "mmdiff.train" not in graph["mmdiff.evaluate"]


def module_lengths() -> list[tuple[int, str]]:
    """(lines, module) for every module of the package, longest first."""
    return sorted(((len(p.read_text().splitlines()), name) for name, p in MODULES.items()),
                  reverse=True)


def test_module_length_report(capsys):
    """A report, never a failure: the longest modules, printed past pytest's capture."""
    lengths = module_lengths()
    assert len(lengths) == len(MODULES)
    rows = [f"  {n:5d}  {name}{'  (long: one idea?)' if n > LONG_MODULE else ''}"
            for n, name in lengths[:REPORT_TOP]]
    with capsys.disabled():
        print(f"\nlongest of {len(lengths)} modules (lines):\n" + "\n".join(rows))


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__main__")))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_lazy_top_level_names():
    out = subprocess.run([sys.executable, "-c", "import mmdiff; print(mmdiff.engine.__name__, "
                          "mmdiff.viz.__name__, mmdiff.Pipeline.__name__, "
                          "mmdiff.default_device())"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["mmdiff.engine", "mmdiff.viz", "Pipeline"] and out[3] in ("cpu", "cuda")


# ----------------------------------------------------------------------------- top level

#: the package's top-level entries by layer, lowest first: an entry imports only from layers
#: below its own (the paper's nouns low, the pipeline in the middle, training, the studies, the
#: course and the command line on top)
LAYERS = (
    ("errors",),
    ("engine", "skeleton", "camera", "diffusion"),
    ("models", "data"),
    ("metrics", "viz", "config", "checkpoints"),
    ("pipeline",),
    ("evaluate", "bench", "wild"),
    ("train",),
    ("demo",),
    ("study",),
    ("course", "cli"),
    ("__main__",),
)


def top_level_entries() -> list[str]:
    """The package's modules and sub-packages (configs/ holds YAML files, not code)."""
    return sorted(p.stem if p.suffix == ".py" else p.name for p in PACKAGE.iterdir()
                  if (p.suffix == ".py" and p.name != "__init__.py")
                  or (p.is_dir() and (p / "__init__.py").is_file()))


def test_every_top_level_entry_has_a_layer_and_imports_only_below_it():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    assert sorted(layer) == top_level_entries(), "place new top-level entries in LAYERS"
    top = {m: (m.split(".") + [""])[1] for m in MODULES}
    upward = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                    if a != "mmdiff" and b != "mmdiff" and top[a] != top[b]
                    and layer[top[b]] >= layer[top[a]])
    assert not upward, "imports that do not go down a layer:\n" + "\n".join(upward)


def module_map() -> str:
    """README's table of the top-level entries: each one's docstring, first sentence."""
    rows = ["| entry | what |", "|---|---|"]
    for name in top_level_entries():
        if name == "__main__":
            continue
        doc = importlib.import_module(f"mmdiff.{name}").__doc__ or ""
        first = " ".join(doc.strip().split("\n\n")[0].split())
        first = first.split(". ")[0].rstrip(".")
        is_pkg = (PACKAGE / name).is_dir()
        rows.append(f"| `{name}{'/' if is_pkg else ''}` | {first} |")
    return "\n".join(rows)


def test_readme_module_map_is_the_packages_own():
    """README's map between its markers is generated from the docstrings (a stale map fails; the
    message holds the table to paste)."""
    text = (PACKAGE.parent / "README.md").read_text()
    start, end = "<!-- modules -->\n", "\n<!-- /modules -->"
    assert start in text and end in text, "README.md needs the <!-- modules --> markers"
    found = text.split(start, 1)[1].split(end, 1)[0]
    assert found == module_map(), "README's module map is stale; replace it with:\n" + module_map()
