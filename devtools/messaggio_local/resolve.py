"""CloudFormation intrinsics (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join, Fn::Select, ...) resolved
against a local stack, so resources are created from the template's own properties."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()


@dataclass
class Context:
    parameters: dict[str, Any]
    pseudo: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> GetAtt
    conditions: dict[str, bool] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        for table in (self.parameters, self.pseudo, self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"cannot resolve Ref {name} locally")

    def attr(self, logical: str, name: str) -> str:
        """A resource's attribute; resources with no local counterpart (log groups, alarms,
        roles) get a placeholder, as only the emulated ones are ever called."""
        return self.attrs.get(logical, {}).get(name, f"arn:aws:local:::{logical}/{name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attr(logical, attr)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.conditions[name] else no)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.conditions[arg]
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name:
                logical, attr = name.split(".", 1)
                return self.attr(logical, attr)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)
