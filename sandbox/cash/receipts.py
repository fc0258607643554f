"""The payer's printable voucher: an HTML page and a one-page PDF, without personal data."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from payments_engine.sandbox.cash.records import VoucherRecord


def voucher_lines(voucher: VoucherRecord, network: str, timezone: str) -> list[str]:
    """What the voucher shows: the network, the amount, the codes and the expiry."""
    order = voucher.order
    local: datetime = voucher.expires_at.astimezone(ZoneInfo(timezone))
    return [
        f"{network} - pago en efectivo / cash payment",
        f"Valor / Amount: {order.amount_text} {order.currency}",
        f"Referencia / Reference: {voucher.voucher_reference}",
        f"Codigo de barras / Barcode: {voucher.barcode}",
        f"Vence / Expires: {local.strftime('%Y-%m-%d %H:%M:%S')} ({timezone})",
        f"Estado / Status: {voucher.status.value}",
    ]


def receipt_html(voucher: VoucherRecord, network: str, timezone: str) -> str:
    """The voucher as an HTML page."""
    lines = voucher_lines(voucher, network, timezone)
    items = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines[1:])
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(lines[0])}</title></head>\n"
        f"<body><h1>{html.escape(lines[0])}</h1>\n{items}\n</body></html>\n"
    )


def _pdf_text(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def receipt_pdf(voucher: VoucherRecord, network: str, timezone: str) -> bytes:
    """The voucher as a one-page PDF (Helvetica, one line per field)."""
    lines = voucher_lines(voucher, network, timezone)
    text = ["BT", "/F1 12 Tf", "50 780 Td", "16 TL"]
    text += [f"({_pdf_text(line.encode('ascii', 'replace').decode())}) '" for line in lines]
    text.append("ET")
    stream = "\n".join(text).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
