"""A local stand-in for the Messaggio platform (docs/protocol.md sections A-F), for tests and demos.

An independent implementation of the wire contract: it shares no code with the connector, so
a bug in the connector's signing or parsing cannot hide behind the same bug here.
"""

from .checks import send_signature, upload_signature
from .faults import Fault
from .reports import ReportAttempt, Scenario
from .send import SentMessage
from .server import RecordedRequest, SandboxPlatform

__all__ = [
    "Fault",
    "RecordedRequest",
    "ReportAttempt",
    "SandboxPlatform",
    "Scenario",
    "SentMessage",
    "send_signature",
    "upload_signature",
]
