"""``payments sandbox purchase``: run card purchases through a running sandbox's network.

One purchase prints one line (``auth_1a2b... APPROVED 15.00 KES by engine in 23.4 ms``)
or, with ``--json``, the sandbox's answer. With ``--count N`` it is a load run for the
benchmark: N purchases with at most ``--concurrency`` in flight, then counts by result
and by who answered, decisions per second and the latency the sandbox measured (p50, p99,
max). Exit status: 0 when every purchase was decided, 1 when the sandbox could not be
reached or answered an error, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import Money, major_to_minor, parse_currency

PURCHASES_PATH = "/admin/issuer/purchases"
CARDS_PATH = "/admin/issuer/cards"
DEFAULT_CONCURRENCY = 10
REQUEST_TIMEOUT_SECONDS = 90.0  # above the longest deadline the sandbox accepts (60 s)

_MCC = re.compile(r"[0-9]{4}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Print the usage and the problem on stderr, then exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(default_sandbox_url: str, prog: str = "payments sandbox purchase") -> _Parser:
    """The purchase command's options.

    Args:
        default_sandbox_url: where the sandbox runs unless ``--sandbox-url`` says.
        prog: the command's name in the help.
    """
    parser = _Parser(
        prog=prog,
        description="Run a card purchase through the sandbox's card network (see --help).",
    )
    parser.add_argument("card", help="the card: its token (crd_...), reference (card-abc) or id")
    parser.add_argument(
        "--amount", required=True, help="major units as a decimal string, e.g. 15.00"
    )
    parser.add_argument(
        "--currency", default=None, help="ISO 4217 code, e.g. KES; default the card's currency"
    )
    parser.add_argument(
        "--mcc", default="5411", help="the merchant category code (default 5411, groceries)"
    )
    parser.add_argument("--country", default="KE", help="the merchant's country (default KE)")
    parser.add_argument("--merchant", default=None, help="the merchant's name")
    parser.add_argument(
        "--partial", action="store_true", help="the merchant takes a partial approval"
    )
    parser.add_argument(
        "--authorization-id",
        default=None,
        help="re-send this authorization's request (a network retry)",
    )
    parser.add_argument("--sandbox-url", default=default_sandbox_url)
    parser.add_argument("--json", action="store_true", help="print the sandbox's JSON answer")
    parser.add_argument("--count", type=int, default=None, help="load run: this many purchases")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"load run: at most this many in flight (default {DEFAULT_CONCURRENCY})",
    )
    return parser


@dataclass(frozen=True)
class PurchaseCommand:
    """A parsed purchase command.

    Attributes:
        body: the JSON body of ``POST /admin/issuer/purchases``.
        url: the full URL it is POSTed to.
        count: None for one purchase, else the number of a load run.
    """

    body: dict[str, Any]
    url: str
    json: bool
    count: int | None
    concurrency: int


def parse_purchase_args(
    argv: Sequence[str], default_sandbox_url: str, prog: str = "payments sandbox purchase"
) -> PurchaseCommand:
    """Parse and check the purchase command's arguments.

    Raises:
        SystemExit: status 2 with a message on stderr, for bad arguments.
    """
    parser = build_parser(default_sandbox_url, prog)
    args = parser.parse_args(list(argv))
    # Without --currency the amount is read in the card's currency once it is known; its
    # form is checked now with two decimals, the most a card currency here has.
    currency = None
    try:
        if args.currency is not None:
            currency = parse_currency(args.currency)
        amount = major_to_minor(args.amount, currency or "USD")
    except (InvalidAmount, UnknownCurrency) as exc:
        if currency is None and args.currency is None:
            parser.error(
                f"argument --amount: {args.amount[:24]!r} is not an amount (at most 2 decimals)"
            )
        parser.error(f"argument --amount/--currency: {exc}")
    if amount <= 0:
        parser.error("argument --amount: must be greater than zero")
    if not _MCC.fullmatch(args.mcc):
        parser.error("argument --mcc: four digits, e.g. 5411")
    if not _COUNTRY.fullmatch(args.country):
        parser.error("argument --country: a two-letter country code, e.g. KE")
    if args.count is not None and args.count < 1:
        parser.error("argument --count: at least 1")
    if args.concurrency < 1:
        parser.error("argument --concurrency: at least 1")
    body: dict[str, Any] = {
        "card": args.card,
        "amount": amount if currency is not None else args.amount,
        "currency": currency,
        "mcc": args.mcc,
        "country": args.country.upper(),
        "partial_allowed": args.partial,
    }
    if args.merchant is not None:
        body["merchant_name"] = args.merchant
    if args.authorization_id is not None:
        body["authorization_id"] = args.authorization_id
    return PurchaseCommand(
        body=body,
        url=args.sandbox_url.rstrip("/") + PURCHASES_PATH,
        json=args.json,
        count=args.count,
        concurrency=args.concurrency,
    )


class SandboxFailed(Exception):
    """The sandbox could not be reached, or answered an error."""


async def send_purchase(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST one purchase; return the sandbox's outcome.

    Raises:
        SandboxFailed: no answer, or not a 200.
    """
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise SandboxFailed(f"cannot reach the sandbox at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise SandboxFailed(f"the sandbox answered {response.status_code}: {response.text}")
    try:
        outcome: dict[str, Any] = response.json()
    except ValueError:
        raise SandboxFailed("the sandbox answered something other than JSON") from None
    return outcome


def _major(amount: int, currency: str) -> str:
    try:
        return Money(amount=amount, currency=currency).to_major()
    except (InvalidAmount, UnknownCurrency, ValueError):
        return str(amount)


def describe(outcome: dict[str, Any]) -> str:
    """One line on a purchase's outcome."""
    head = f"{outcome['authorization_id']} {outcome['result']}"
    currency = str(outcome["currency"])
    if outcome["result"] == "APPROVED":
        approved = _major(int(outcome["approved_amount"]), currency)
        if outcome["approved_amount"] != outcome["amount"]:
            of = _major(int(outcome["amount"]), currency)
            head += f" {approved} of {of} {currency} (partial)"
        else:
            head += f" {approved} {currency}"
    else:
        head += f" ({outcome['decline_reason']}) {_major(int(outcome['amount']), currency)}"
        head += f" {currency}"
    return f"{head} by {outcome['answered_by']} in {float(outcome['latency_ms']):.1f} ms"


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank ``percent`` percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadReport:
    """What a load run saw."""

    count: int
    concurrency: int
    elapsed_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def decided(self) -> int:
        """Purchases the sandbox decided."""
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        rate = self.decided / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0
        latency = (
            {
                "p50": percentile(self.latencies_ms, 50),
                "p99": percentile(self.latencies_ms, 99),
                "max": max(self.latencies_ms),
            }
            if self.latencies_ms
            else None
        )
        return {
            "count": self.count,
            "concurrency": self.concurrency,
            "decided": self.decided,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "decisions_per_second": round(rate, 1),
            "outcomes": dict(sorted(self.outcomes.items())),
            "latency_ms": latency,
        }

    def lines(self) -> list[str]:
        """The report for people."""
        summary = self.summary()
        lines = [
            f"{self.count} purchases, {self.concurrency} in flight at most:"
            f" {self.decided} decided in {summary['elapsed_seconds']:.2f} s"
            f" ({summary['decisions_per_second']:.1f} decisions/s)"
        ]
        lines += [f"  {outcome}: {n}" for outcome, n in summary["outcomes"].items()]
        latency = summary["latency_ms"]
        if latency is not None:
            lines.append(
                f"  latency (sandbox) p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms,"
                f" max {latency['max']:.1f} ms"
            )
        if self.errors:
            lines.append(f"  errors: {sum(self.errors.values())}")
            lines += [f"    {kind}: {n}" for kind, n in sorted(self.errors.items())]
        return lines


async def load_run(client: httpx.AsyncClient, command: PurchaseCommand, count: int) -> LoadReport:
    """Send ``count`` purchases, at most ``command.concurrency`` at a time."""
    report = LoadReport(count=count, concurrency=command.concurrency)
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            try:
                outcome = await send_purchase(client, command.url, command.body)
            except SandboxFailed as exc:
                # Kinds, not the messages: a thousand identical lines say nothing more.
                report.errors[str(exc).split(":", 1)[0]] += 1
                continue
            report.outcomes[f"{outcome['result']} by {outcome['answered_by']}"] += 1
            report.latencies_ms.append(float(outcome["latency_ms"]))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(command.concurrency, count))))
    report.elapsed_seconds = time.perf_counter() - started
    return report


async def in_card_currency(client: httpx.AsyncClient, command: PurchaseCommand) -> PurchaseCommand:
    """The command with its amount in minor units of the card's currency, asked of the sandbox.

    Raises:
        SandboxFailed: the sandbox cannot be reached or has no such card.
        InvalidAmount: the amount has more decimals than the card's currency.
    """
    url = command.url.removesuffix(PURCHASES_PATH) + CARDS_PATH
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise SandboxFailed(f"cannot reach the sandbox at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise SandboxFailed(f"the sandbox answered {response.status_code}: {response.text}")
    card = str(command.body["card"])
    names = {card, f"card-{card}"}
    for found in response.json():
        if found.get("token") in names or found.get("reference") in names:
            currency = str(found["currency"])
            amount = major_to_minor(str(command.body["amount"]), currency)
            body = {**command.body, "amount": amount, "currency": currency}
            return dataclasses.replace(command, body=body)
    raise SandboxFailed(f"the sandbox has no card {card[:80]!r}")


def _write(text: str, stream: Any = None) -> None:
    (stream or sys.stdout).write(text + "\n")


async def run_purchase(
    command: PurchaseCommand, *, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Run the command and print its outcome; return the exit status.

    Args:
        command: the parsed command.
        transport: the HTTP transport (tests pass one calling the app); None for the
            network.
    """
    limits = httpx.Limits(
        max_connections=command.concurrency, max_keepalive_connections=command.concurrency
    )
    async with httpx.AsyncClient(
        transport=transport, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits
    ) as client:
        if command.body["currency"] is None:
            try:
                command = await in_card_currency(client, command)
            except SandboxFailed as exc:
                _write(f"purchase failed: {exc}", sys.stderr)
                return 1
            except (InvalidAmount, UnknownCurrency) as exc:
                _write(f"invalid --amount: {exc}", sys.stderr)
                return 2
        if command.count is None:
            try:
                outcome = await send_purchase(client, command.url, command.body)
            except SandboxFailed as exc:
                _write(f"purchase failed: {exc}", sys.stderr)
                return 1
            _write(json.dumps(outcome, indent=2) if command.json else describe(outcome))
            return 0
        report = await load_run(client, command, command.count)
    if command.json:
        _write(json.dumps(report.summary(), indent=2))
    else:
        _write("\n".join(report.lines()))
    return 1 if report.errors else 0


def main(argv: Sequence[str], default_sandbox_url: str, prog: str = "payments sandbox") -> int:
    """``payments sandbox purchase ...``: parse, run, return the exit status.

    Raises:
        SystemExit: status 2 for bad arguments.
    """
    command = parse_purchase_args(argv, default_sandbox_url, prog=f"{prog} purchase")
    return asyncio.run(run_purchase(command))
