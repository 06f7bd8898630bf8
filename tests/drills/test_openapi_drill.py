"""The REST API's committed OpenAPI document, checked against the running local stack with
schemathesis: no 5xx, and every answer matches its schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fixtures.local import up

pytestmark = pytest.mark.drill

SCHEMA = ROOT / "functions" / "callbacks" / "openapi.json"


def test_openapi_against_the_local_stack(tmp_path: Path, say: Callable[[str], None]) -> None:
    for stack in up(tmp_path, "--scenario", "none"):
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(SCHEMA),
                "--url",
                stack["api_url"],
                "--checks",
                "not_a_server_error,status_code_conformance,"
                "content_type_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "150",
                "--workers",
                "1",
                "--seed",
                "1",
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            check=False,
        )
        tail = "\n".join(run.stdout.splitlines()[-25:])
        say(f"schemathesis:\n{tail}")
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
