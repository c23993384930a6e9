"""Text measurements only the IFBench checkers need: stop words, char trigrams, emoji, syllables
and the part-of-speech tag of a response's first token.

Sentences and treebank tokens are IFEval's (:mod:`verif_nb.ifeval._text`, checked against nltk).
The reference downloads nltk data at import; nothing here downloads anything:

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

Example:
    >>> count_stopwords("The cat sat on the mat")
    3
    >>> sorted(char_trigrams("abcd"))
    ['abc', 'bcd']
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

from verif_nb.errors import VerifNbError


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

_WORD = re.compile(r"\w+")


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
