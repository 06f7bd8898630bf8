"""Run the sandbox platform from the command line until Ctrl-C or SIGTERM.

python -m messaggio_sandbox --port 8401 --callback-url http://127.0.0.1:3000/callbacks/tok
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .reports import SCENARIO_NAMES, Scenario
from .server import SandboxPlatform


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m messaggio_sandbox",
        description="A local stand-in for the Messaggio platform (docs/protocol.md sections A-F).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8401, help="0 picks a free port")
    parser.add_argument("--callback-url", default=None, help="where delivery reports go")
    parser.add_argument("--login", default="acme")
    parser.add_argument("--secret-key", default="s3cr3t-Key")
    parser.add_argument("--report-method", type=str.upper, choices=("GET", "POST"), default="GET")
    parser.add_argument("--scenario", choices=SCENARIO_NAMES, default="delivered")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--balance", type=int, default=None, help="recipients left (default: unlimited)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        platform = SandboxPlatform(
            host=args.host,
            port=args.port,
            accounts={args.login: args.secret_key},
            callback_url=args.callback_url,
            report_method=args.report_method,
            balance=args.balance,
            latency=args.latency,
            seed=args.seed,
            scenario=Scenario.named(args.scenario),
        )
        platform.start()
    except (ValueError, OSError) as error:
        print(f"messaggio_sandbox: {error}", file=sys.stderr)
        return 2

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"sandbox platform: send URL {platform.send_url}  media URL {platform.media_url}")
    print(
        f"account: login {args.login}  secret key {args.secret_key}  "
        f"callback URL {args.callback_url or '(none)'}  scenario {args.scenario}",
        flush=True,
    )
    try:
        while not done.wait(0.2):
            pass
    finally:
        platform.stop()
    print("sandbox platform stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
