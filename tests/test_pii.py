"""PII detection and redaction on hand-written mentions: what must be found and what must be left alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.pii import PII_TYPES, find_pii, iban_valid, luhn_valid, pii_types, redact


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # email
        ("email me at jo.smith+care@mail.example.co.uk please", "jo.smith+care@mail.example.co.uk"),
        ("@AcmeHelp my address is Sam_99@gmail.com", "Sam_99@gmail.com"),
        # card: Visa, Mastercard, Amex, written in groups or unbroken (all Luhn-valid test numbers)
        ("my card 4111 1111 1111 1111 was charged", "4111 1111 1111 1111"),
        ("card 5555-5555-5555-4444 declined", "5555-5555-5555-4444"),
        ("used 4012888888881881 yesterday", "4012888888881881"),
        ("amex 3782 822463 10005 charged twice", "3782 822463 10005"),
        # phone
        ("call me on 07700 900123 tonight", "07700 900123"),
        ("text 07700900123", "07700900123"),
        ("my number +44 20 7946 0958 thanks", "+44 20 7946 0958"),
        ("reach me: +1 (555) 123-4567", "+1 (555) 123-4567"),
        ("call (555) 123-4567", "(555) 123-4567"),
        ("at 555.123.4567 after 6", "555.123.4567"),
        ("it's 555-123-4567", "555-123-4567"),
        ("+33 6 12 34 56 78 en France", "+33 6 12 34 56 78"),
        ("my number is 5551234567", "5551234567"),
        ("please call me 9148445695", "9148445695"),
        # iban
        ("refund to GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000", "DE89370400440532013000"),
        # account, order and booking references: only the token
        ("order #123456789 never came", "123456789"),
        ("my order number is 112-1234567-1234567", "112-1234567-1234567"),
        ("Order No. 4567891 is late", "4567891"),
        ("order#123456789", "123456789"),
        ("booking ref ABC123 flight moved", "ABC123"),
        ("booking ref QWERTY", "QWERTY"),
        ("PNR: QWERTY", "QWERTY"),
        ("record locator BSUXLU", "BSUXLU"),
        ("confirmation code XKCD42", "XKCD42"),
        ("my flight confirmation # is fwwe7f", "fwwe7f"),
        ("account number 12345678 locked", "12345678"),
        ("reference #: 261093929756", "261093929756"),
        ("AA FF# 94LXA62", "94LXA62"),
    ],
)
def test_finds_private_data(text: str, found: str) -> None:
    assert [text[m.start : m.end] for m in find_pii(text)] == [found]


def test_cards_of_13_to_19_digits() -> None:
    for length in (13, 16, 19):
        number = _luhn_complete("4" + "2" * (length - 2))
        assert pii_types(f"card {number}") == ["card"], length
    for length in (12, 20):
        number = _luhn_complete("4" + "2" * (length - 2))
        assert "card" not in pii_types(f"card {number}"), length
    grouped = _luhn_complete("4" + "3" * 17)
    assert pii_types(f"card {grouped[:4]} {grouped[4:8]} {grouped[8:12]} {grouped[12:16]} {grouped[16:]}") == ["card"]


@pytest.mark.parametrize(
    "text",
    [
        # Luhn failures are not cards
        "my card 4111 1111 1111 1112 was charged",
        "4111111111111112",
        "5555-5555-5555-4445",
        # numbers that are not private: quantities, years, times, prices, dates, versions
        "ordered 12 items for $1,299.99 on 2024-05-01 at 10:30",
        "flight at 10.30pm on 12/05/2023, gate 22",
        "customer since 2019, 2019-2020 season",
        "+2 hours late, 3 x 12.5kg bags, £25.00 each",
        "iPhone 15 Pro 256GB and version 1.2.3.4",
        "it took 45 minutes and 20 seconds",
        "order 2 items",
        "my account for 2 years",
        "New order is 30minutes late",
        # loose runs of short numbers, longer runs, tracking numbers
        "4 12 2019 1234 5678",
        "tracking 1Z999AA10123456784 says delivered",
        "usps 9400 1000 0000 0000 0000 00",
        "usps 9400100000000000000000",
        "fedex tracking 123456789012",
        # company numbers and mailboxes
        "I called 1-800-555-0199 and waited an hour",
        "freephone 0800 123 4567",
        "their number is 0344 556 5650",
        "emailed customer.relations@aa.com and support@example.com, got noreply@example.com",
        # baggage tags with the international prefix
        "tag numbers 0016 964012, 0016 964077",
        # URLs, handles, hashtags
        "see https://twitter.com/acme/status/1234567890123456789",
        "www.example.com/p/4111111111111111",
        "https://example.com/orders/123456789?email=x",
        "@AmazonHelp @user5551234567 hi",
        "me@AmazonHelp",
        "#BlackFriday2023 #order12345 deals",
        # cue words without a reference
        "my booking PLEASE help",
        "the booking process is broken",
        "flight UA1234 delayed",
        "case #12345678 and ticket 98765432",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert find_pii(text) == [], [text[m.start : m.end] for m in find_pii(text)]


def test_types_are_sorted_and_distinct() -> None:
    text = "card 4111 1111 1111 1111, jo@example.com, also ann@example.org, call 07700 900123, order #998877665"
    assert pii_types(text) == ["account_ref", "card", "email", "phone"]
    assert set(pii_types(text)) <= set(PII_TYPES)


def test_redact_replaces_each_match_with_its_type() -> None:
    text = "order #123456789 never came, card 4111-1111-1111-1111, mail jo@example.com or call (555) 123-4567"
    assert redact(text) == "order #[account_ref] never came, card [card], mail [email] or call [phone]"
    assert redact("nothing private here, 12 items at 10:30") == "nothing private here, 12 items at 10:30"


def test_redact_reuses_matches() -> None:
    text = "call 555-123-4567"
    assert redact(text, find_pii(text)) == "call [phone]"
    assert redact(text, []) == text


def test_overlaps_keep_the_more_specific_type() -> None:
    # a Luhn-valid number after "account number" is a card; a cued reference written like a phone is a reference
    assert pii_types("account number 4111111111111111") == ["card"]
    assert pii_types("order 5551234567") == ["account_ref"]


def test_luhn_and_iban_checks() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("41111x1111111111")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33") and not iban_valid("GB82")


def _luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        if luhn_valid(prefix + last):
            return prefix + last
    raise AssertionError("unreachable")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=14, max_size=14), st.sampled_from(["", " ", "-"]))
def test_every_luhn_valid_visa_is_a_card_and_every_wrong_check_digit_is_not(body: str, sep: str) -> None:
    number = _luhn_complete("4" + body)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert len(number) == 16

    def written(digits: str) -> str:
        return sep.join(digits[i : i + 4] for i in range(0, 16, 4)) if sep else digits

    assert pii_types(f"my card {written(number)} thanks") == ["card"]
    assert "card" not in pii_types(f"my card {written(wrong)} thanks")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_redaction_leaves_no_match_and_keeps_the_rest(text: str) -> None:
    matches = find_pii(text)
    out = redact(text, matches)
    for a, b in zip(matches, matches[1:], strict=False):
        assert a.end <= b.start
    if not matches:
        assert out == text
    else:
        assert out.startswith(text[: matches[0].start]) and out.endswith(text[matches[-1].end :])
