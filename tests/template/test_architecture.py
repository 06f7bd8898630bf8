"""Issue 14: the functions and the layer run on the architecture the template names (arm64 by
default, x86_64 one parameter away), and `sam build` puts native code of that architecture in
the layer, every module compiled. A layer built for x86_64 under arm64 functions fails at the
first import of pydantic-core, in production only: this builds the layer for each and reads
its ELF files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from messaggio_local.template import ROOT, resource, template
from tests.template.conftest import parameter

SAM = ROOT / ".venv-sam" / "bin" / "sam"
# e_machine in an ELF header (offset 18, little-endian): what `file` prints as the machine.
ELF_MACHINES = {183: "arm64", 62: "x86_64"}
ARCHITECTURE = {"Ref": "Architecture"}


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF file"
    assert header[5] == 1, f"{path.name}: not little-endian"
    machine = int.from_bytes(header[18:20], "little")
    return ELF_MACHINES.get(machine, f"machine {machine}")


def sam_build(name: str, tmp_path: Path, *overrides: str) -> Path:
    """`sam build <name>` as a deployment runs it (on this machine, whatever it is): the
    build folder."""
    assert SAM.exists(), "no SAM CLI: `make .venv-sam/.installed` (make test installs it)"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # The PATH the README gives (`export PATH="$PWD/.venv-sam/bin:$PATH"`): the recipes'
    # python3.12 (and the layer's pip) is the SAM CLI's environment's.
    env["PATH"] = f"{SAM.parent}{os.pathsep}{env.get('PATH', '')}"
    build = tmp_path / "build"
    command = [
        *(str(SAM), "build", name, "--template-file", str(ROOT / "template.yaml")),
        *("--build-dir", str(build), "--cache-dir", str(tmp_path / "cache")),
        *(("--parameter-overrides", *overrides) if overrides else ()),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return build


def test_arm64_is_the_default_and_x86_64_the_other_choice() -> None:
    architecture = parameter("Architecture")
    assert architecture["Default"] == "arm64"
    assert sorted(architecture["AllowedValues"]) == ["arm64", "x86_64"]


def test_the_functions_and_the_layer_follow_the_parameter() -> None:
    """One parameter moves all: functions (Globals, none overriding), the layer's
    compatibility and the architecture its wheels are fetched for."""
    assert template()["Globals"]["Function"]["Architectures"] == [ARCHITECTURE]
    for name, body in template()["Resources"].items():
        if body["Type"] == "AWS::Serverless::Function":
            assert "Architectures" not in body["Properties"], name
    layer = resource("SharedLayer")
    assert layer["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE]
    assert layer["Metadata"]["BuildArchitecture"] == ARCHITECTURE
    # layers/shared/Makefile reads the architecture from its working folder's name
    assert layer["Metadata"]["WorkingDirectory"] == {"Fn::Sub": "layers/arch/${Architecture}"}
    for name in parameter("Architecture")["AllowedValues"]:
        assert (ROOT / "layers" / "arch" / name).is_dir(), name


def test_sam_local_builds_and_runs_x86_64_apart_from_the_deployed_build() -> None:
    """samconfig.toml's `local` environment, which every `sam` line of the README's sam local
    section names: x86_64 (Docker's Lambda image there), built into a folder of its own that
    invoke and start-api read; the default build (what `sam deploy` ships) stays arm64."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    local = config["local"]
    assert local["global"]["parameters"]["parameter_overrides"] == "Architecture=x86_64"
    build_dir = local["build"]["parameters"]["build_dir"]
    assert build_dir != ".aws-sam/build"
    assert "build_dir" not in config["default"]["build"]["parameters"]
    for command in ("local_invoke", "local_start_api"):
        assert local[command]["parameters"]["template_file"] == f"{build_dir}/template.yaml"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Trying the functions with `sam local`")[1].split("\n## ")[0]
    lines = re.findall(r"^sam (?:build|local \S+).*$", section, re.MULTILINE)
    assert len(lines) >= 3, lines
    assert [x for x in lines if "--config-env local" not in x] == []


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_sam_build_puts_native_code_of_the_architecture_in_the_layer(
    architecture: str, tmp_path: Path
) -> None:
    """`sam build SharedLayer` as a deployment runs it (on this machine, whatever it is):
    every compiled module of the layer (pydantic-core's) is for the
    architecture given, none for the other."""
    build = sam_build("SharedLayer", tmp_path, f"Architecture={architecture}")
    python = build / "SharedLayer" / "python"
    native = sorted(python.rglob("*.so"))
    names = {p.relative_to(python).parts[0] for p in native}
    assert {"pydantic_core"} <= names, names
    machines = {str(p.relative_to(python)): elf_machine(p) for p in native}
    assert set(machines.values()) == {architecture}, machines
    # Compiled once at build (a layer is read-only in Lambda: otherwise every new container
    # compiles what it imports), as .pyc Python uses without comparing the files' times.
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    sources = [p for p in python.rglob("*.py") if "__pycache__" not in p.parts]
    uncompiled = [
        str(p.relative_to(python))
        for p in sources
        if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").exists()
    ]
    assert sources and not uncompiled, uncompiled[:10]
    compiled = python / "messaggio_core" / "__pycache__" / f"__init__.{tag}.pyc"
    assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01, "unchecked-hash .pyc"
    shutil.rmtree(build)


def functions() -> list[str]:
    return [
        name
        for name, body in template()["Resources"].items()
        if body["Type"] == "AWS::Serverless::Function"
    ]


def test_every_function_is_built_by_the_recipe_that_compiles_it() -> None:
    """SAM's python builder would ship the code without bytecode, and /var/task is
    read-only: every new container would compile it (functions/function.mk)."""
    assert functions()
    for name in functions():
        assert resource(name)["Metadata"]["BuildMethod"] == "makefile", name
        makefile = ROOT / resource(name)["Properties"]["CodeUri"] / "Makefile"
        assert "../function.mk" in makefile.read_text(encoding="utf-8"), name


@pytest.mark.slow
def test_sam_build_compiles_a_function(tmp_path: Path) -> None:
    """`sam build SenderFunction`: its code, every module compiled once, as .pyc Python
    uses without comparing the files' times; no Makefile shipped."""
    code = sam_build("SenderFunction", tmp_path) / "SenderFunction"
    assert not (code / "Makefile").exists()
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    sources = sorted(p for p in code.rglob("*.py") if "__pycache__" not in p.parts)
    assert [p.name for p in sources if p.name == "handler.py"], sources
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01, source.name
