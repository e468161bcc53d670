"""Private data posted in public: find it, name its types and redact it.

A customer who posts a card number, an email address or an order reference on a public timeline needs
a person to move the conversation to a private channel, and nothing the service stores, logs or returns
should repeat that data. This module finds five types, with regular expressions compiled once and a
check per type that keeps ordinary numbers (quantities, years, times, prices, dates, tweet ids in URLs)
from counting:

- ``email``: ``name@domain.tld``; an ``@handle`` is not an email, nor is a company's role mailbox
  (``support@``, ``info@``, ``customer.relations@``, ``noreply@``, ...).
- ``phone``: international numbers written with ``+`` (8 to 15 digits); US numbers written in groups
  (``(555) 123-4567``, ``555.123.4567``, ``+1 555 123 4567``); UK numbers in a person's ranges (01, 02,
  07) written in groups (``020 7946 0958``) or a bare mobile number (``07700900123``); and a bare run of
  10 or 11 digits only after a cue such as "call me" or "my number". Toll-free numbers (US ``800``,
  ``888``, ...; UK ``0800``, ``0808``) and UK business ranges (03, 08) are a company's and do not count.
- ``card``: 13 to 19 digits starting with 2 to 6 (the card networks' ranges), unbroken or in the
  networks' groups (4-4-4-4, Amex 4-6-5) split by spaces or dashes, that pass the Luhn check. A number
  that fails Luhn is not a card.
- ``iban``: a country code, two check digits and 11 to 30 letters or digits that pass the ISO 7064
  mod-97 check.
- ``account_ref``: an order, account, booking, reservation, confirmation, customer, membership, invoice
  or policy reference after a cue word: a token of at least 5 characters with 3 or more digits, or of 6
  characters with one ("order #123456789", "account number 12345678", "booking ABC123"); or an
  airline-style 6-capital code after a booking cue and a code word ("PNR: QWERTY", "booking ref
  QWERTY"; not "my booking PLEASE"). Only the token is redacted: "order #[account_ref]".

Deliberately not PII here: parcel tracking numbers (a carrier's status page shows no private data;
"tracking 1Z999AA10123456784" is left alone), case or ticket numbers (the brand's own ids), flight numbers,
and numbers inside URLs, ``@handles`` or ``#hashtags`` (status ids, product pages, campaign tags).

Example:
    >>> pii_types("my card 4111 1111 1111 1111 was charged, email me at jo@example.com")
    ['card', 'email']
    >>> redact("order #123456789 never came, call 555-123-4567")
    'order #[account_ref] never came, call [phone]'
    >>> find_pii("ordered 12 items for $1,299.99 on 2024-05-01 at 10:30")
    []
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PII_TYPES", "PiiType", "PiiMatch", "find_pii", "pii_types", "redact", "luhn_valid", "iban_valid"]

PiiType = Literal["email", "phone", "card", "iban", "account_ref"]
PII_TYPES: tuple[str, ...] = ("email", "phone", "card", "iban", "account_ref")

# When two matches overlap, the more specific type wins (a Luhn-valid card cued as "account number"
# is still a card; a cued reference that is written like a phone number is a reference).
_PRECEDENCE = {"card": 0, "iban": 1, "email": 2, "account_ref": 3, "phone": 4}


@dataclass(frozen=True)
class PiiMatch:
    """One piece of private data: its type and where it is in the text (``text[start:end]``)."""

    type: str
    start: int
    end: int


# --- spans where numbers are identifiers, not private data ------------------------------------------
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A hashtag needs a letter ("#123456789" after "order" is a reference, not a tag).
_HANDLE_OR_TAG = re.compile(r"(?<![\w@])(?:@[A-Za-z0-9_]+|#(?=[A-Za-z0-9_]*[A-Za-z_])[A-Za-z0-9_]+)")

# --- email --------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![\w-])"
)

# A company's role mailbox ("customer.relations@aa.com", "support@...") is not a customer's private data.
_ROLE_MAILBOXES = frozenset(
    "info support help helpdesk care customercare service services customerservice customerservices eservice "
    "customerrelations customersupport contact contactus hello sales feedback complaints enquiries inquiries "
    "press media webmaster admin billing accounts privacy dpo security abuse careers jobs".split()
)

# --- numbers ---------------------------------------------------------------------------------------------
# A number may not start right after a letter, digit, or a character that makes it part of another
# token (a price, a decimal, a path, a handle), and may not run on into more digits.
_NUM_START = r"(?<![\w$£€¥@/.,:+-])"
_NUM_END = r"(?![\w]|[.,:/-]\d)"

# Cards are written unbroken or in the networks' groups: 4-4-4-4 (up to 19 digits) or Amex/Diners 4-6-5/4-6-4,
# with one kind of separator; loose runs of short numbers ("4 12 2019 1234") are not cards.
_CARD = re.compile(
    _NUM_START
    + r"(?:[2-6]\d{12,18}|[2-6]\d{3}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,4}(?:(?P=sep)\d{1,3})?"
    + r"|3\d{3}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5})"
    + _NUM_END
)

_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,5}" + _NUM_END)
_PHONE_US = re.compile(
    _NUM_START + r"(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}" + _NUM_END
)
_PHONE_UK = re.compile(_NUM_START + r"(?:\(0\d{2,4}\)|0\d{2,4})[ -]?\d{3,4}[ -]?\d{3,4}" + _NUM_END)
_PHONE_CUED = re.compile(
    r"\b(?:call(?:\s+me)?(?:\s+(?:on|at))?|ring\s+me(?:\s+on)?|text\s+me(?:\s+(?:on|at))?|reach\s+me(?:\s+(?:on|at))?"
    r"|phone(?:\s+number)?|mobile(?:\s+number)?|cell(?:\s+number)?|tel|whatsapp|my\s+number)"
    r"(?:\s+is)?\s*[:#]?\s*(\d{10,11})" + _NUM_END,
    re.IGNORECASE,
)
_TOLL_FREE_US = {"800", "888", "877", "866", "855", "844", "833"}
_TOLL_FREE_UK = ("0800", "0808", "0500")
# UK numbers a person has: geographic 01/02 and mobile 07. 03, 08 and 09 are business, freephone and
# premium ranges; 00 is the international prefix (baggage tags like "0016 964078" start so).
_UK_PRIVATE = ("01", "02", "07")

# --- IBAN --------------------------------------------------------------------------------------------
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])")

# --- account, order and booking references ---------------------------------------------------------------
_REF_CUES = (
    r"order(?:\s+(?:no|number|num|id|ref|reference))?|account(?:\s+(?:no|number|num|id))?|acct|a/c"
    r"|customer(?:\s+(?:no|number|id))|member(?:ship)?(?:\s+(?:no|number|id))|loyalty(?:\s+(?:no|number))"
    r"|frequent\s+flyer(?:\s+(?:no|number))?|ff(?:\s+(?:no|number))?|invoice(?:\s+(?:no|number))?|policy(?:\s+(?:no|number))"
    r"|booking(?:\s+(?:no|number|ref|reference|code|id))?|reservation(?:\s+(?:no|number|code|id))?"
    r"|confirmation(?:\s+(?:no|number|code))?|reference|ref|pnr|record\s+locator"
)
# Connecting words between the cue and the token: "order number is #123", "booking ref: ABC123".
_REF_LINK = r"(?:\s*(?:\.|:|-|#|no\.?|is|was)\s*){0,3}\s*"
_REF_TOKEN = r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9](?:[A-Za-z0-9-]{3,30})[A-Za-z0-9]"
_ACCOUNT_REF = re.compile(
    r"\b(?:" + _REF_CUES + r")\b" + _REF_LINK + r"(?P<token>" + _REF_TOKEN + r")(?![\w]|[.,:/-]\w)",
    re.IGNORECASE,
)
# An airline-style code: six capitals or digits; one with no digit ("QWERTY") counts only after a code word.
_PNR = re.compile(
    r"\b(?:pnr|record\s+locator|(?:booking|reservation|confirmation)\s+(?:ref|reference|code|number|no)"
    r"|booking|reservation|confirmation|reference|ref)\b"
    r"(?P<link>(?:\s*(?:\.|:|-|#|no\.?|is|was)\s*){0,3}\s*)(?P<token>(?-i:[A-Z0-9]{6}))(?![\w])",
    re.IGNORECASE,
)
_PNR_CODE_CUE = re.compile(r"\b(?:pnr|record\s+locator|ref|reference|code|number|no)\b|[:#]", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    """The Luhn check that every payment card number passes.

    Example:
        >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
        (True, False)
    """
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """The ISO 13616 IBAN check: length 15 to 34 and mod-97 of the rearranged number equals 1.

    Example:
        >>> iban_valid("GB82 WEST 1234 5698 7654 32"), iban_valid("GB82 WEST 1234 5698 7654 33")
        (True, False)
    """
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _personal_email(address: str) -> bool:
    local = address.split("@", 1)[0].lower()
    compact = local.replace(".", "").replace("-", "").replace("_", "")
    return compact not in _ROLE_MAILBOXES and not compact.startswith(("noreply", "donotreply"))


def _cards(text: str) -> list[PiiMatch]:
    found = []
    for match in _CARD.finditer(text):
        digits = _digits(match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(PiiMatch("card", match.start(), match.end()))
    return found


def _phones(text: str) -> list[PiiMatch]:
    found = []
    for match in _PHONE_INTL.finditer(text):
        digits = _digits(match.group())
        if 8 <= len(digits) <= 15 and not (digits.startswith("1") and digits[1:4] in _TOLL_FREE_US):
            found.append(PiiMatch("phone", match.start(), match.end()))
    for match in _PHONE_US.finditer(text):
        digits = _digits(match.group())
        area = digits[1:4] if len(digits) == 11 else digits[:3]
        if area not in _TOLL_FREE_US:
            found.append(PiiMatch("phone", match.start(), match.end()))
    for match in _PHONE_UK.finditer(text):
        raw = match.group()
        digits = _digits(raw)
        grouped = any(char in raw for char in " -()")
        if len(digits) in (10, 11) and digits.startswith(_UK_PRIVATE) and (grouped or digits.startswith("07")):
            found.append(PiiMatch("phone", match.start(), match.end()))
    for match in _PHONE_CUED.finditer(text):
        digits = match.group(1)
        if not digits.startswith(_TOLL_FREE_UK) and digits[-10:-7] not in _TOLL_FREE_US:
            found.append(PiiMatch("phone", match.start(1), match.end(1)))
    return found


def _ibans(text: str) -> list[PiiMatch]:
    return [PiiMatch("iban", m.start(), m.end()) for m in _IBAN.finditer(text) if iban_valid(m.group())]


def _reference_like(token: str) -> bool:
    # "30minutes" after "order is" is not a reference: a reference has 3+ digits or is a 6-character code.
    digits = sum(char.isdigit() for char in token)
    return digits >= 3 or (len(token) == 6 and digits >= 1)


def _account_refs(text: str) -> list[PiiMatch]:
    found = [
        PiiMatch("account_ref", m.start("token"), m.end("token"))
        for m in _ACCOUNT_REF.finditer(text)
        if _reference_like(m.group("token"))
    ]
    for match in _PNR.finditer(text):
        token = match.group("token")
        cue_and_link = match.group(0)[: match.start("token") - match.start()]
        if any(char.isdigit() for char in token) or _PNR_CODE_CUE.search(cue_and_link):
            found.append(PiiMatch("account_ref", match.start("token"), match.end("token")))
    return found


def _protected_spans(text: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _URL.finditer(text)]
    spans += [(m.start(), m.end()) for m in _HANDLE_OR_TAG.finditer(text)]
    return spans


def _overlaps(match: PiiMatch, spans: list[tuple[int, int]]) -> bool:
    return any(match.start < end and start < match.end for start, end in spans)


def find_pii(text: str) -> list[PiiMatch]:
    """Every piece of private data in ``text``, in order of position, without overlaps.

    Numbers inside URLs, ``@handles`` and ``#hashtags`` are skipped; an email address is found anywhere
    outside a URL.

    Example:
        >>> find_pii("reach me on jo@example.com")
        [PiiMatch(type='email', start=12, end=26)]
    """
    if not text:
        return []
    urls = [(m.start(), m.end()) for m in _URL.finditer(text)]
    protected = _protected_spans(text)
    matches = [
        PiiMatch("email", m.start(), m.end())
        for m in _EMAIL.finditer(text)
        if _personal_email(m.group()) and not _overlaps(PiiMatch("email", m.start(), m.end()), urls)
    ]
    numbers = _cards(text) + _ibans(text) + _account_refs(text) + _phones(text)
    matches += [m for m in numbers if not _overlaps(m, protected) and not _overlaps(m, [(e.start, e.end) for e in matches])]
    matches.sort(key=lambda m: (_PRECEDENCE[m.type], m.start, -(m.end - m.start)))
    kept: list[PiiMatch] = []
    for match in matches:
        if not _overlaps(match, [(k.start, k.end) for k in kept]):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


def pii_types(text: str) -> list[str]:
    """The sorted, distinct types of private data in ``text`` (the ``pii`` field of a TriageResult).

    Example:
        >>> pii_types("booking ref ABC123, call +44 20 7946 0958")
        ['account_ref', 'phone']
    """
    return sorted({match.type for match in find_pii(text)})


def redact(text: str, matches: list[PiiMatch] | None = None) -> str:
    """``text`` with each piece of private data replaced by its type in brackets, e.g. ``[card]``.

    Args:
        text: the mention's text.
        matches: the result of :func:`find_pii` when the caller already has it (saves a second scan).

    Example:
        >>> redact("email jo@example.com or call (555) 123-4567")
        'email [email] or call [phone]'
    """
    if matches is None:
        matches = find_pii(text)
    parts = []
    position = 0
    for match in sorted(matches, key=lambda m: m.start):
        parts.append(text[position : match.start])
        parts.append(f"[{match.type}]")
        position = match.end
    parts.append(text[position:])
    return "".join(parts)
