"""Makes moto's EventBridge deliver to targets at a usable speed.

For every event it delivers to a rule's target, moto parses eight JSONPath expressions
(its default input template) with jsonpath_ng, which builds a new parser each time: tens of
milliseconds an event, far more than anything the connector does. The parsed expressions
are the same every time and `find` does not change them, so they are cached here; what is
delivered is unchanged.
"""

from __future__ import annotations

import functools

import jsonpath_ng.ext as jsonpath


def make_eventbridge_fast() -> None:
    """Idempotent."""
    parse = getattr(jsonpath, "parse")  # noqa: B009 (not in the module's declared exports)
    if not hasattr(parse, "cache_info"):
        setattr(jsonpath, "parse", functools.cache(parse))  # noqa: B010
