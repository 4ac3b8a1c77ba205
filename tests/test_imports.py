"""The product's import graph: no circle among its modules, and the layers as the README's layout says (app and
training build on models, app never on training, nothing in the product on research or bench)."""
import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("app", "models", "training")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` a file imports anywhere in it (in functions too), `from package import module` included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known or name.split(".")[0] in ("research", "bench")}


def product_files() -> dict[str, Path]:
    return {module_name(p): p for package in PRODUCT for p in (ROOT / package).rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    files = product_files()
    known = set(files)
    return {name: imported(path, known) - {name} for name, path in files.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, as the modules along it, or None."""
    done, path = set(), []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if found := visit(target):
                return found
        path.pop()
        done.add(node)
        return None

    return next((found for start in sorted(graph) if (found := visit(start))), None)


def test_no_module_of_the_product_imports_itself_round_a_circle():
    graph = import_graph()
    assert len(graph) > 50 and "models.loading" in graph["models.classify"]
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_the_cycle_check_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_layers_hold():
    for name, targets in import_graph().items():
        layers = {t.split(".")[0] for t in targets}
        assert not layers & {"research", "bench"}, f"{name} imports {targets}"
        if name.startswith("models"):
            assert layers <= {"models"}, f"{name} imports {targets}"
        if name.startswith("app"):
            assert "training" not in layers, f"{name} imports {targets}"


def test_alerts_take_what_they_need_from_the_cameras_and_import_none_of_them():
    """A rule is data and the camera side hands the sink its views: app.cameras may import app.alerts, never back."""
    graph = import_graph()
    alerts = {name: targets for name, targets in graph.items() if name.startswith("app.alerts")}
    assert alerts and not any(t.startswith("app.cameras") for targets in alerts.values() for t in targets), alerts
    assert "app.alerts.rules" in graph["app.cameras.config"]


def test_the_runtime_plan_is_resolved_in_one_place():
    """Which backend runs is asked in models.plan only: start-up and the evaluation command line call resolve_plan."""
    assert callers("resolve_backend") == {"models.plan"}
    assert callers("resolve_plan") == {"app.settings", "training.evaluate", "models.classify"}  # start-up and two command lines


def callers(function: str) -> set[str]:
    """The product's modules that call `function` by name."""
    return {name for name, path in product_files().items() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function}


def third_party_imports(package: str) -> set[str]:
    """Top-level names of the modules outside the project that `package` imports anywhere (in functions too)."""
    names = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names - set(PRODUCT) - set(sys.stdlib_module_names)}


def requirement_name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement)[0].lower().replace("_", "-")


def installed_with(names: set[str]) -> set[str]:
    """`names` and every distribution they require, unconditionally, as installed here."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [requirement_name(r) for r in requires if ";" not in r]
    return seen


def test_what_the_service_imports_is_a_dependency_of_the_package():
    """The images install the package's dependencies only: a module app or models needs that is only in the dev
    extras works in the tests and fails in the container (the alert webhook's httpx once did)."""
    declared = installed_with({requirement_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]})
    distributions = importlib.metadata.packages_distributions()
    optional = {"onnxruntime"}  # MASKWATCH_BACKEND=onnxruntime: pip install '.[onnxruntime]', said when missing
    for package in ("app", "models"):
        for name in third_party_imports(package) - optional:
            assert {d.lower().replace("_", "-") for d in distributions.get(name, [name])} & declared, \
                f"{package} imports {name}, which the package does not depend on"
