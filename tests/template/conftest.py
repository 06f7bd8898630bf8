"""Helpers for template checks: template.yaml read with the local stack's loader (CFN short
tags kept as {"Fn::...": ...}), and the pieces of it the checks compare."""

from __future__ import annotations

from typing import Any

from messaggio_local.template import template


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of one type, by logical id."""
    return {k: v for k, v in template()["Resources"].items() if v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline policy statements of a function (managed policies by Ref left out)."""
    found: list[dict[str, Any]] = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def parameter(name: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Parameters"][name]
    return found
