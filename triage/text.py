"""Tweet text normalisation, and the key that matches one tweet across datasets.

:func:`normalize_tweet` is what every model sees: user handles become ``@user``, links become ``http``
(the conventions of TweetEval and of the Twitter-trained models built on it), HTML entities are decoded
and whitespace is collapsed. Emoji, punctuation, case and every other character are kept, because they
carry sentiment and intent.

:func:`match_key` is much more aggressive and is only for finding the same tweet in two datasets whose
copies differ in mentions, links, escapes, entities, case or punctuation (for example to drop the
TweetEval validation tweets from the SemEval training files).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

from triage.errors import InputError

__all__ = ["normalize_tweet", "normalize_batch", "match_key", "content_words", "content_text"]

# A link: anything that starts with a scheme, "www." or "t.co/" and runs to the next whitespace. The
# scheme form has no left boundary on purpose, so a link glued to a word ("see:https://...") still goes.
_URL_RE = re.compile(r"(?:https?://|(?<![\w.])www\.|(?<![\w./])t\.co/)\S*", re.IGNORECASE)
# Punctuation that ends a sentence rather than a link: kept after the ``http`` placeholder.
_URL_TRAILING = ".,;:!?)]}\"'…"
# A handle: "@" not preceded by a word character (so e-mail addresses stay) and followed by word characters;
# covers twcs's numeric ids ("@115712") and TweetEval's "@user".
_HANDLE_RE = re.compile(r"(?<!\w)@\w+")
_SPACE_RE = re.compile(r"\s+")

# match_key removes every link, glued or not, and every "@..." token up to the next space: TweetEval
# anonymised whole tokens ("@Nash076's" and "@RobHarris:England-San" both became "@user").
# "https?:" without the slashes also catches links cut short by the tweet's length ("download: http:/ ...");
# a bare "http" is normalize_tweet's placeholder for a link, so raw and normalised copies get one key.
_KEY_URL_RE = re.compile(r"(?:https?:|www\.|t\.co/)\S*|http(?!\w)", re.IGNORECASE)
_KEY_HANDLE_RE = re.compile(r"@\S*")
# Literal escapes left in some tweet dumps (TweetEval has "Don\u2019t" and "DC\u002c" as plain text).
_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape_html(text: str) -> str:
    """Decode HTML entities until none are left ("&amp;lt;" -> "<"), so normalising twice changes nothing."""
    # Every decoding step shortens the text (an entity is longer than what it stands for), so this ends.
    while "&" in text:
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _replace_url(match: re.Match[str]) -> str:
    url = match.group(0)
    # Keep the sentence punctuation that followed the link ("see https://x.co/a." -> "see http.").
    return "http" + url[len(url.rstrip(_URL_TRAILING)) :]


def normalize_tweet(text: str, *, keep_handles: bool = False) -> str:
    """Normalise one tweet the way every ``triage`` model expects its input.

    - user handles (``@AmazonHelp``, twcs's numeric ``@115712``) become ``@user``; e-mail addresses are kept;
    - links (``http://``, ``https://``, ``www.``, ``t.co/``) become ``http``; punctuation that ends the
      sentence after a link is kept;
    - HTML entities are decoded (``&amp;`` -> ``&``, ``&lt;`` -> ``<``, also double-escaped ones);
    - runs of whitespace (spaces, tabs, ``\\r``, ``\\n``, no-break spaces, ...) become one space and the
      ends are stripped;
    - everything else (case, emoji, punctuation, other scripts) is kept.

    The function is idempotent: ``normalize_tweet(normalize_tweet(t)) == normalize_tweet(t)``.

    Args:
        text: the raw tweet.
        keep_handles: keep user handles as written (an index of answered mentions uses it: the handle a
            customer addresses, ``@YouTubeTV`` rather than ``@Google``, names the product).

    Returns:
        The normalised tweet (possibly empty).

    Raises:
        InputError: ``text`` is not a ``str``.

    Example:
        >>> normalize_tweet("@AmazonHelp my order  never came &amp; nobody answers 😡\\nhttps://t.co/AbC123")
        '@user my order never came & nobody answers 😡 http'
        >>> normalize_tweet("@115712 see www.example.com/help.")
        '@user see http.'
    """
    if not isinstance(text, str):
        raise InputError(f"normalize_tweet expected a str, got {type(text).__name__}; pass the tweet's text.")
    text = _unescape_html(text)
    text = _URL_RE.sub(_replace_url, text)
    if not keep_handles:
        text = _HANDLE_RE.sub("@user", text)
    return _SPACE_RE.sub(" ", text).strip()


def normalize_batch(texts: Iterable[str], *, keep_handles: bool = False) -> list[str]:
    """Apply :func:`normalize_tweet` to every text of a batch, keeping the order.

    Args:
        texts: a list (or any iterable other than a single ``str``) of tweets.
        keep_handles: see :func:`normalize_tweet`.

    Returns:
        The normalised tweets, one per input.

    Raises:
        InputError: ``texts`` is a single string or not iterable, or an item is not a ``str``
            (the message gives its position).

    Example:
        >>> normalize_batch(["@a hi", "&lt;3 http://x.co"])
        ['@user hi', '<3 http']
    """
    if isinstance(texts, str | bytes):
        raise InputError(
            f"normalize_batch expected a list of str, got a single {type(texts).__name__}; wrap it in a list."
        )
    try:
        items = list(texts)
    except TypeError as exc:
        raise InputError(f"normalize_batch expected a list of str, got {type(texts).__name__}.") from exc
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InputError(f"texts[{i}] is {type(item).__name__}, expected str.")
        out.append(normalize_tweet(item, keep_handles=keep_handles))
    return out


def match_key(text: str) -> str:
    """Return the key that identifies a tweet across datasets, whatever each copy did to it.

    Literal ``\\uXXXX`` escapes and HTML entities are decoded; links and ``@...`` tokens are removed up to
    the next space (so TweetEval's anonymised ``@user`` and the original ``@Nash076's`` give the same key),
    and so is the ``http`` that :func:`normalize_tweet` leaves for a link (a raw tweet and its normalised
    copy give the same key);
    the text is folded to lower case (Unicode case folding, accents dropped) and only letters and digits
    are kept, with no spaces. Two copies of one tweet give the same key; the key is not meant to be read.

    Args:
        text: a tweet, raw or normalised.

    Returns:
        The key (empty when the text holds no letters or digits besides mentions and links).

    Raises:
        InputError: ``text`` is not a ``str``.

    Example:
        >>> match_key("@JetBlue Flight 123 delayed... AGAIN!! http://t.co/xyz")
        'flight123delayedagain'
        >>> match_key("@user flight 123 delayed &amp; again") == match_key("@user Flight 123 delayed again")
        True
    """
    if not isinstance(text, str):
        raise InputError(f"match_key expected a str, got {type(text).__name__}; pass the tweet's text.")
    while True:  # escapes and entities may hide each other ("\\u0026amp;"); each round shortens the text
        decoded = _unescape_html(_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text))
        if decoded == text:
            break
        text = decoded
    text = _KEY_URL_RE.sub(" ", text)
    text = _KEY_HANDLE_RE.sub(" ", text)
    # Decompose, fold case and decompose again: compatibility forms ("ﬁ", full-width letters), case
    # ("ß" / "SS") and accents ("é" / "e" + combining mark, then dropped) all end up the same.
    text = unicodedata.normalize("NFKD", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isalnum())


# A run of letters and digits with at least one letter; an apostrophe inside it (won't, won’t) joins it.
_WORD_RE = re.compile(r"[^\W_]*[^\W\d_][^\W_]*(?:['’][^\W_]+)*")


def _without_handles_and_links(text: str) -> str:
    return _HANDLE_RE.sub(" ", _URL_RE.sub(" ", text))


def content_text(text: str) -> str:
    """What a mention says without its handles and links, otherwise normalised like :func:`normalize_tweet`.

    For grouping mentions by meaning: the ``@user`` that :func:`normalize_tweet` keeps dominates the embedding
    of a short mention, so that "@user I did." and "@user still not working" embed close together.

    Example:
        >>> content_text("@AcmeHelp @bob my parcel never arrived &amp; nobody answers https://t.co/x")
        'my parcel never arrived & nobody answers'
    """
    if not isinstance(text, str):
        raise InputError(f"content_text expected a str, got {type(text).__name__}.")
    return normalize_tweet(_without_handles_and_links(text))


def content_words(text: str) -> int:
    """How many words a mention says besides its handles and links: runs of letters and digits that hold a
    letter (``help``, ``ps4``, ``can't``). Emoji, punctuation and bare numbers are not words.

    Short mentions ("@Brand ?", "@Brand thanks!") embed close to one another whatever they mean, so
    repeated-question clusters leave out mentions with too few words.

    Example:
        >>> content_words("@ArgosHelpers ?"), content_words("@AppleSupport my ps4 won't update https://t.co/x")
        (0, 4)
    """
    if not isinstance(text, str):
        raise InputError(f"content_words expected a str, got {type(text).__name__}.")
    return len(_WORD_RE.findall(_without_handles_and_links(text)))
