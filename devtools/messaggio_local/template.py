"""template.yaml read as data, so local runs and tests build exactly what is deployed."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


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


def create_table(client: Any, logical_id: str, name: str) -> None:
    args, ttl = table_definition(logical_id, name)
    client.create_table(**args)
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


def create_queue(
    client: Any,
    logical_id: str,
    name: str,
    resolved: dict[str, Any] | None = None,
    *,
    visibility: int | None = None,
) -> str:
    """An SQS queue of the template, made with its attributes; its URL.

    `resolved` is its Properties with intrinsics resolved (the local stack has them, with the
    dead-letter queue's ARN); without it, the redrive policy (which names another resource) is
    left out. `visibility` replaces the visibility timeout (the local stack shortens it).
    """
    props = resolved if resolved is not None else resource(logical_id)["Properties"]
    attributes: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
        if isinstance(props.get(key), int | str):
            attributes[key] = str(props[key])
    if visibility is not None:
        attributes["VisibilityTimeout"] = str(visibility)
    redrive = props.get("RedrivePolicy")
    if resolved is not None and redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": str(redrive["maxReceiveCount"]),
            }
        )
    url: str = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url
