"""What the code imports is declared in pyproject.toml, where `make lock` can see it: the
deployed code's imports in the layer's dependencies (or the Lambda runtime's boto3), every
other import in the layer's or the dev group's. A package that is only there because something
else pulls it in would vanish from the layer, or from the tests, the day that something changes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions, requires

from tests.conftest import ROOT
from tests.repository.test_stands_alone import tracked_files

DEPLOYED = ("layers/shared/", "functions/")
RUNTIME = {"boto3", "botocore"}  # the Lambda runtime has them; the layer must not carry them
FIRST_PARTY = {
    "messaggio_core",
    "messaggio_sender",
    "messaggio_callbacks",
    "messaggio_media",
    "messaggio_events",
}
TOOLS = {"messaggio_sandbox", "messaggio_local", "tests", "bench"}
FIRST_PARTY |= TOOLS
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    """The distributions named, and those their named extras bring (boto3-stubs[dynamodb] ->
    mypy-boto3-dynamodb)."""
    names: set[str] = set()
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        assert match, requirement
        name, extras = match.group(1), (match.group(2) or "").split(",")
        names.add(normal(name))
        for needed in requires(name) or []:
            marker = re.search(r'extra == "([^"]+)"', needed)
            if marker and marker.group(1) in extras:
                names.add(normal(REQUIREMENT.match(needed).group(1)))  # type: ignore[union-attr]
    return names


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(node: ast.AST, at_run_time: bool) -> Iterator[str]:
    """Top-level names of absolute imports (without `if TYPE_CHECKING:` ones, at run time)."""
    for child in ast.iter_child_nodes(node):
        if at_run_time and isinstance(child, ast.If) and is_type_checking(child):
            for orelse in child.orelse:
                yield from imported(orelse, at_run_time)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name.split(".")[0] for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            yield child.module.split(".")[0]
        yield from imported(child, at_run_time)


def undeclared(deployed_only: bool, allowed: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for name in tracked_files():
        if not name.endswith(".py") or deployed_only != name.startswith(DEPLOYED):
            continue
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for module in set(imported(tree, at_run_time=deployed_only)):
            if module in sys.stdlib_module_names or module in FIRST_PARTY:
                continue
            found = {normal(d) for d in distributions.get(module, [])}
            if not found & allowed:
                missing.append(f"{name}: {module} ({', '.join(sorted(found)) or 'not installed'})")
    return missing


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LAYER = declared(PYPROJECT["project"]["dependencies"])
DEV = declared([r for r in PYPROJECT["dependency-groups"]["dev"] if isinstance(r, str)])


def test_the_deployed_code_imports_only_what_the_layer_or_the_runtime_carries() -> None:
    assert undeclared(deployed_only=True, allowed=LAYER | RUNTIME) == []


def test_the_tools_and_tests_import_only_what_is_declared() -> None:
    assert undeclared(deployed_only=False, allowed=LAYER | DEV) == []


def test_the_deployed_code_never_imports_the_tools_tests_or_bench() -> None:
    """sam build ships functions/ and layers/shared only: such an import fails in Lambda."""
    found = []
    for name in tracked_files():
        if name.endswith(".py") and name.startswith(DEPLOYED):
            tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
            found += [f"{name}: {m}" for m in set(imported(tree, at_run_time=False)) & TOOLS]
    assert found == []
