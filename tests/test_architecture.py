"""The package's import structure: layers that only point down, no import circles (ARCHITECTURE.md).

Every `import` / `from ... import` of a synthbio module is read from the source (module level
and inside functions alike; `if TYPE_CHECKING:` blocks too, for the layer rule), so a lazy
import cannot hide an upward dependency or a circle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom to top. A module may import its own top-level package and packages of LOWER layers;
# two packages of the same layer may not import each other. Keep in step with ARCHITECTURE.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("utils",),
    ("io",),
    ("nn",),
    ("checkpoints",),
    ("generation",),
    ("fingerprints", "faces"),
    ("metrics",),
    ("identity", "training"),
    ("inversion", "editing", "segmentation", "translation"),
    ("pipelines",),
    ("web",),
    ("cli",),
)
# Inside pipelines/, each job folder may use the shared helpers and itself only.
PIPELINES_SHARED = "common"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "synthbio").rglob("*.py"))}


def _imports(path: Path, known: set[str], *, skip_type_checking: bool) -> Iterator[tuple[str, int]]:
    """(imported synthbio module, line) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    if skip_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:  # `from synthbio.x import y`: y may be a submodule
                sub = f"{node.module}.{alias.name}"
                yield (sub if sub in known else node.module), node.lineno


def _layer_of(module: str) -> tuple[int, str] | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the root package: version only
    top = parts[1]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i, top
    return None


def test_every_package_has_a_layer() -> None:
    tops = {m.split(".")[1] for m in _modules() if m.count(".") >= 1}
    declared = {p for layer in LAYERS for p in layer}
    assert tops <= declared, f"packages missing from LAYERS (and ARCHITECTURE.md): {sorted(tops - declared)}"


def _layer_violations() -> list[str]:
    modules = _modules()
    known = set(modules)
    problems = []
    for mod, path in modules.items():
        here = _layer_of(mod)
        for target, line in _imports(path, known, skip_type_checking=False):
            if not target.startswith("synthbio"):
                continue
            there = _layer_of(target)
            where = f"{path.relative_to(SRC)}:{line}"
            if here is None:
                if there is not None:
                    problems.append(f"{where}: the root package imports {target}")
                continue
            if there is None:
                continue  # `import synthbio` (the version) is fine from anywhere
            if there[1] == here[1]:
                if here[1] == "pipelines":
                    job, other = mod.split(".")[2:3], target.split(".")[2:3]
                    if job and other and job != other and other != [PIPELINES_SHARED]:
                        problems.append(f"{where}: pipeline job {job[0]} imports another job's module {target}")
                continue
            if there[0] >= here[0]:
                kind = "sideways (same layer)" if there[0] == here[0] else "upward"
                problems.append(f"{where}: {mod} ({here[1]}) imports {target} ({there[1]}): {kind}")
    return problems


def test_imports_only_point_down() -> None:
    problems = _layer_violations()
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    modules = _modules()
    known = set(modules)
    graph = {m: {t for t, _ in _imports(p, known, skip_type_checking=True) if t in known and t != m}
             for m, p in modules.items()}
    circles = []
    for comp in _strongly_connected(graph):
        if len(comp) < 2:
            continue
        # A package's __init__ re-exporting its submodules, which import a sibling through the
        # package, is how Python packages work; every other loop is a circle.
        related = all(any(o.startswith(c + ".") or c.startswith(o + ".") for o in comp if o != c) for c in comp)
        if not related:
            circles.append(" <-> ".join(comp))
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("source, expected", [
    ("from synthbio.pipelines.images.generate import generate\n", "upward"),
    ("def f():\n    from synthbio.cli.main import main\n", "upward"),
])
def test_the_checker_sees_upward_imports_even_inside_functions(tmp_path: Path, source: str, expected: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately wrong module (a fingerprints module importing a job / the CLI) is reported."""
    fake_src = tmp_path / "src"
    pkg = fake_src / "synthbio"
    for sub in ("fingerprints", "pipelines/images", "cli"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "pipelines" / "__init__.py").write_text("")
    (pkg / "pipelines" / "images" / "generate.py").write_text("def generate():\n    pass\n")
    (pkg / "cli" / "main.py").write_text("def main():\n    pass\n")
    (pkg / "fingerprints" / "bad.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake_src)
    problems = _layer_violations()
    assert len(problems) == 1 and expected in problems[0] and "fingerprints/bad.py" in problems[0]


def test_test_modules_have_unique_names() -> None:
    """Test folders are not packages, so pytest imports each test module by its file name: two
    `test_x.py` in different folders stop the whole suite at collection."""
    tests = Path(__file__).resolve().parent
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted(tests.rglob("test_*.py")):
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(tests)} and {path.relative_to(tests)}")
        seen.setdefault(path.name, path)
    assert not clashes, "rename one of each pair: " + "; ".join(clashes)
