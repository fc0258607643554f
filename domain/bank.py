"""Bank accounts and identity documents: where a bank transfer goes, and who the payer is.

Cash is never refunded as cash: a cash order's refund is a bank transfer to the payer's
own account (ACH/PSE in Colombia, SPEI in Mexico). These models hold what such a transfer
needs, validated on construction, and how views show it without personal data.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from payments_engine.domain.errors import ValidationFailed


class DocumentType(StrEnum):
    """Identity documents the cash networks and banks accept."""

    CC = "CC"
    """Colombian citizen's card (cédula de ciudadanía): 5-10 digits."""
    CE = "CE"
    """Colombian foreigner's card (cédula de extranjería): 5-12 letters or digits."""
    NIT = "NIT"
    """Colombian tax id: 9-10 digits, optionally ``-`` and a check digit."""
    PP = "PP"
    """Passport: 5-20 letters or digits."""
    CURP = "CURP"
    """Mexican population registry key: 18 letters and digits."""
    RFC = "RFC"
    """Mexican tax id: 12-13 letters and digits."""


DOCUMENT_TYPES_BY_COUNTRY: dict[str, tuple[DocumentType, ...]] = {
    "CO": (DocumentType.CC, DocumentType.CE, DocumentType.NIT, DocumentType.PP),
    "MX": (DocumentType.CURP, DocumentType.RFC, DocumentType.PP),
}
"""The documents accepted for a payer of each country served."""

_DOCUMENT_PATTERNS: dict[DocumentType, re.Pattern[str]] = {
    DocumentType.CC: re.compile(r"[0-9]{5,10}"),
    DocumentType.CE: re.compile(r"[A-Z0-9]{5,12}"),
    DocumentType.NIT: re.compile(r"[0-9]{9,10}(-[0-9])?"),
    DocumentType.PP: re.compile(r"[A-Z0-9]{5,20}"),
    DocumentType.CURP: re.compile(r"[A-Z]{4}[0-9]{6}[HMX][A-Z]{5}[A-Z0-9][0-9]"),
    DocumentType.RFC: re.compile(r"[A-Z&]{3,4}[0-9]{6}[A-Z0-9]{3}"),
}


_DOCUMENT_SHAPES: dict[DocumentType, str] = {
    DocumentType.CC: "5-10 digits",
    DocumentType.CE: "5-12 letters or digits",
    DocumentType.NIT: "9-10 digits, optionally a dash and a check digit",
    DocumentType.PP: "5-20 letters or digits",
    DocumentType.CURP: "18 letters and digits",
    DocumentType.RFC: "12-13 letters and digits",
}


def check_document(document_type: DocumentType, number: str) -> str:
    """The document number, upper-cased and without spaces, if it fits its type.

    Raises:
        ValidationFailed: the number does not have its type's shape (the message names
            the type and the shape, never the number).
    """
    cleaned = re.sub(r"[\s.]", "", number).upper()
    if not _DOCUMENT_PATTERNS[document_type].fullmatch(cleaned):
        shape = _DOCUMENT_SHAPES[document_type]
        raise ValidationFailed(f"not a valid {document_type.value} number ({shape})")
    return cleaned


def mask_document(document_type: DocumentType, number: str) -> str:
    """``CC ******5678``: the document type and its last four characters."""
    tail = number[-4:]
    return f"{document_type.value} {'*' * max(len(number) - 4, 0)}{tail}"


def mask_name(name: str) -> str:
    """``M. G.``: a person's initials, all a view shows of a name."""
    return " ".join(f"{part[0]}." for part in name.split() if part) or "?"


class AccountType(StrEnum):
    """Kinds of bank account a transfer can go to."""

    SAVINGS = "savings"
    CHECKING = "checking"


_BANK_CODE = re.compile(r"[0-9]{3,5}")
_ACCOUNT_NUMBER = re.compile(r"[0-9]{6,20}")


class BankAccount(BaseModel):
    """A payer's bank account: where a bank-transfer refund goes.

    Every field is needed; a transfer to an account whose holder's document does not
    match is returned by the bank, so the document travels with the account.

    Attributes:
        bank_code: the bank's ACH code (Colombia, e.g. ``007`` Bancolombia) or SPEI code.
        account_type: savings or checking.
        account_number: 6-20 digits (a CLABE in Mexico is 18).
        document_type: the holder's identity document type.
        document_number: its number.
        holder_name: the holder's name as the bank knows it.
        country: where the account is (``CO``, ``MX``).
    """

    model_config = ConfigDict(frozen=True)

    # The country first: the documents accepted depend on it.
    country: str = Field(min_length=2, max_length=2)
    bank_code: str
    account_type: AccountType
    account_number: str
    document_type: DocumentType
    document_number: str
    holder_name: str = Field(min_length=2, max_length=100)

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        value = value.upper()
        if value not in DOCUMENT_TYPES_BY_COUNTRY:
            raise ValidationFailed(
                f"bank transfers are served in {', '.join(DOCUMENT_TYPES_BY_COUNTRY)}"
            )
        return value

    @field_validator("bank_code")
    @classmethod
    def _bank_code(cls, value: str) -> str:
        if not _BANK_CODE.fullmatch(value.strip()):
            raise ValidationFailed("a bank code is 3-5 digits")
        return value.strip()

    @field_validator("account_number")
    @classmethod
    def _account_number(cls, value: str) -> str:
        cleaned = re.sub(r"[\s-]", "", value)
        if not _ACCOUNT_NUMBER.fullmatch(cleaned):
            raise ValidationFailed("a bank account number is 6-20 digits")
        return cleaned

    @field_validator("holder_name")
    @classmethod
    def _holder_name(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 2:
            raise ValidationFailed("the account holder's name is needed")
        return value

    @field_validator("document_number")
    @classmethod
    def _document_number(cls, value: str, info: ValidationInfo) -> str:
        document_type = info.data.get("document_type")
        # Without a valid type, its own error is enough.
        return value if document_type is None else check_document(document_type, value)

    @field_validator("document_type")
    @classmethod
    def _document_of_country(cls, value: DocumentType, info: ValidationInfo) -> DocumentType:
        country = info.data.get("country")
        allowed = DOCUMENT_TYPES_BY_COUNTRY.get(country or "", tuple(DocumentType))
        if value not in allowed:
            raise ValidationFailed(
                f"a {value.value} document is not accepted in {country}; "
                f"use one of {', '.join(t.value for t in allowed)}"
            )
        return value

    def masked(self) -> str:
        """``bank 007 savings ****6789 (CC ******5678)``: the account without personal data."""
        return (
            f"bank {self.bank_code} {self.account_type.value} ****{self.account_number[-4:]}"
            f" ({mask_document(self.document_type, self.document_number)})"
        )


BANK_ACCOUNT_FIELDS = (
    "bank_code",
    "account_type",
    "account_number",
    "document_type",
    "document_number",
    "holder_name",
)
"""What a bank-transfer refund needs of the payer's account, for messages."""
