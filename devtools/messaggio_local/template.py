"""template.yaml read as data, so local runs and tests build exactly what is deployed."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from messaggio_local.runtime import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Where a local run (the local stack, the tests, the benchmarks) resolves the template: moto's
# default account.
ACCOUNT = "123456789012"
REGION = "eu-west-1"


class _Loader(yaml.SafeLoader):
    """Keeps CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as {"Fn": value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def parse(text: str) -> Any:
    """CloudFormation YAML (short-form intrinsics kept as {"Fn": value})."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506


@cache
def template() -> dict[str, Any]:
    data: dict[str, Any] = parse(TEMPLATE.read_text())
    return data


def resource(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Resources"][logical_id]
    return found


def table_definition(logical_id: str, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """create_table arguments for a DynamoDB table of the template, and its TTL setting."""
    props = resource(logical_id)["Properties"]
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    ttl = props.get("TimeToLiveSpecification")
    return args, ttl


def function_arn(logical_id: str) -> str:
    """A function's ARN, its name being its logical id (as the local stack names it)."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def function_context(logical_id: str, *, remaining_ms: int | None = None) -> LambdaContext:
    """The Lambda context the template's function is invoked with, as the local stack's
    runtime makes it (its name, ARN, timeout and memory); `remaining_ms` fixes the time it
    says is left, for a test or a benchmark calling the handler itself."""
    props = resource(logical_id)["Properties"]
    defaults = template().get("Globals", {}).get("Function", {})
    return LambdaContext(
        logical_id,
        float(props.get("Timeout", defaults.get("Timeout", 3))),
        function_arn(logical_id),
        int(props.get("MemorySize", defaults.get("MemorySize", 128))),
        remaining_ms=remaining_ms,
    )
