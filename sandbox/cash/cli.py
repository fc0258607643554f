"""``payments sandbox pay-voucher REFERENCE``: a payer pays a cash voucher at a shop.

Asks each cash network of a running sandbox (Efecty, then OXXO, or the one named with
``--network``) to take a payment of the voucher ``REFERENCE`` (the code the payer quotes,
or our ``cash-order-...`` reference) and prints which one took it, e.g.::

    efecty took voucher 4825119937 (cash-order-o1): 120000 COP paid at 2025-01-08T14:03:00Z;
    confirmation due at 2025-01-08T14:18:00Z

A voucher past its expiry (or cancelled) takes a late payment. Exit status: 0 when a
network took it, 1 when none has it, it was paid already or the sandbox cannot be
reached, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

NETWORKS = ("efecty", "oxxo")
REQUEST_TIMEOUT_SECONDS = 10.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Print the usage and the problem on stderr, then exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(default_sandbox_url: str, prog: str = "payments sandbox pay-voucher") -> _Parser:
    """The command's options."""
    parser = _Parser(
        prog=prog,
        description="Pay a cash voucher at a (simulated) shop: Efecty or OXXO.",
    )
    parser.add_argument(
        "reference", help="the voucher's payment reference (or our cash-order-... reference)"
    )
    parser.add_argument("--sandbox-url", default=default_sandbox_url)
    parser.add_argument("--network", choices=NETWORKS, default=None, help="ask this network only")
    parser.add_argument("--json", action="store_true", help="print the sandbox's JSON answer")
    return parser


def describe(network: str, voucher: dict[str, Any]) -> str:
    """One line on a payment a network took."""
    line = (
        f"{network} took voucher {voucher['voucher_reference']} ({voucher['reference']}):"
        f" {voucher['amount']} {voucher['currency']} paid at {voucher['paid_at']}"
    )
    if voucher.get("paid_after_expiry") or voucher.get("status") in ("EXPIRED", "CANCELLED"):
        line += f" (late: the voucher is {voucher['status']}, expired at {voucher['expires_at']})"
    confirmations = [at for kind, at in voucher.get("plan", []) if kind == "confirm"]
    if confirmations:
        line += f"; confirmation due at {confirmations[0]}"
    return line


def _write(text: str, stream: Any = None) -> None:
    (stream or sys.stdout).write(text + "\n")


async def pay_voucher(
    reference: str,
    sandbox_url: str,
    *,
    networks: Sequence[str] = NETWORKS,
    as_json: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Ask each network in turn to take the payment; print the outcome, return the status.

    Args:
        transport: the HTTP transport (tests pass one calling the app); None for the
            network.
    """
    base = sandbox_url.rstrip("/")
    async with httpx.AsyncClient(transport=transport, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for network in networks:
            url = f"{base}/admin/{network}/vouchers/{quote(reference, safe='')}/payments"
            try:
                response = await client.post(url)
            except httpx.HTTPError as exc:
                _write(f"cannot reach the sandbox at {base}: {type(exc).__name__}", sys.stderr)
                return 1
            if response.status_code == 404:
                # Not this network's voucher, or the network does not run.
                continue
            if response.status_code == 409:
                detail = response.json().get("detail", response.text)
                _write(f"{network} refused the payment: {detail}", sys.stderr)
                return 1
            if response.status_code != 200:
                _write(f"{network} answered {response.status_code}: {response.text}", sys.stderr)
                return 1
            voucher: dict[str, Any] = response.json()
            _write(json.dumps(voucher, indent=2) if as_json else describe(network, voucher))
            return 0
    _write(
        f"no cash network ({', '.join(networks)}) at {base} has a voucher {reference[:80]!r}",
        sys.stderr,
    )
    return 1


def main(argv: Sequence[str], default_sandbox_url: str, prog: str = "payments sandbox") -> int:
    """``payments sandbox pay-voucher ...``: parse, run, return the exit status.

    Raises:
        SystemExit: status 2 for bad arguments.
    """
    args = build_parser(default_sandbox_url, f"{prog} pay-voucher").parse_args(list(argv))
    networks = (args.network,) if args.network else NETWORKS
    return asyncio.run(
        pay_voucher(args.reference, args.sandbox_url, networks=networks, as_json=args.json)
    )
