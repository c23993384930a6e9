"""The 58 IFBench out-of-distribution checkers (Pyatkin et al. 2025): one small frozen dataclass per id.

They share one :class:`~verif_nb.checkers.Checker` base with IFEval's (typed kwargs as fields, a pure
``evaluate`` returning ``(followed, reason)``, ``check`` wrapping it in a Verdict); each fills ``describe()``,
the constraint in words as a judge is shown it, from its ``description`` template. Semantics follow AI2's reference
``instructions.py`` exactly, quirks included (each quirk kept on purpose is said in the class
docstring), because verdicts must equal the reference's on the same responses. Where the reference
would draw a random value for a missing kwarg, the kwarg is required instead.

Example:
    >>> from verif_nb.checkers import get_checker
    >>> c = get_checker("count:numbers", {"N": 2})
    >>> (c.check("It costs 3 dollars and 50 cents.").reason, c.describe())
    ('2 numbers, needs exactly 2', 'Include exactly 2 numbers in the response.')
"""

from __future__ import annotations

import csv
import io
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from verif_nb.checkers import text as _text
from verif_nb.checkers._base import Checker, register
from verif_nb.checkers._registry import get_checker  # noqa: F401  (the examples build checkers by id)
from verif_nb.checkers.text import count_words, plural, quote, split_sentences, word_tokenize

PUNCT = string.punctuation
_PUNCT_SPACE = PUNCT + " "
_DROP_PUNCT = str.maketrans("", "", PUNCT)


def _no_punct(text: str) -> str:
    return text.translate(_DROP_PUNCT)


def _ascii_fold(text: str) -> str:
    # 'São Tomé' -> 'Sao Tome': decompose, then drop what is not ASCII (the accents)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


# ----------------------------------------------------------------------------------------------
# count:
# ----------------------------------------------------------------------------------------------


@register("count:word_count_range", "ifbench")
@dataclass(frozen=True)
class WordCountRange(Checker):
    """Between ``min_words`` and ``max_words`` ``\\w+`` words, both ends included.

    Example:
        >>> get_checker("count:word_count_range", {"min_words": 2, "max_words": 3}).check("one two three four").reason
        '4 words, needs between 2 and 3'
    """

    min_words: int
    max_words: int
    description: ClassVar[str] = "The response must contain between {min_words} and {max_words} words."

    def __post_init__(self) -> None:
        self._need_non_negative("min_words", self.min_words)
        self._need_non_negative("max_words", self.max_words)

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = count_words(response)
        return (
            self.min_words <= n <= self.max_words,
            f"{plural(n, 'word')}, needs between {self.min_words} and {self.max_words}",
        )


@register("count:unique_word_count", "ifbench")
@dataclass(frozen=True)
class UniqueWordCount(Checker):
    """At least ``N`` distinct lowercase whitespace tokens, punctuation stripped from their ends
    (a token of punctuation only counts once, as the empty word, as in the reference).

    Example:
        >>> get_checker("count:unique_word_count", {"N": 3}).check("Go, go GO!").reason
        '1 unique word, needs at least 3'
    """

    N: int
    description: ClassVar[str] = "Use at least {N} unique words in the response."

    def __post_init__(self) -> None:
        self._need_non_negative("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len({word.strip(_PUNCT_SPACE) for word in response.lower().split()})
        return n >= self.N, f"{plural(n, 'unique word')}, needs at least {self.N}"


@register("count:conjunctions", "ifbench")
@dataclass(frozen=True)
class Conjunctions(Checker):
    """At least ``small_n`` different coordinating conjunctions (and, but, for, nor, or, so, yet).

    Reference quirk kept: distinct *spellings* count, so "and", "And" and "and," are three.

    Example:
        >>> get_checker("count:conjunctions", {"small_n": 2}).check("Tea and cake, but no jam.").passed
        True
    """

    small_n: int
    description: ClassVar[str] = "Use at least {small_n} different coordinating conjunctions in the response."
    CONJUNCTIONS: ClassVar[frozenset[str]] = frozenset({"and", "but", "for", "nor", "or", "so", "yet"})

    def __post_init__(self) -> None:
        self._need_non_negative("small_n", self.small_n)

    def evaluate(self, response: str) -> tuple[bool, str]:
        found = {w for w in response.split() if w.strip(_PUNCT_SPACE).lower() in self.CONJUNCTIONS}
        listed = ", ".join(map(repr, sorted(found))) or "none"
        return (
            len(found) >= self.small_n,
            f"{plural(len(found), 'distinct conjunction')} ({listed}), needs at least {self.small_n}",
        )


PERSON_NAMES: tuple[str, ...] = (
    "Emma",
    "Liam",
    "Sophia",
    "Jackson",
    "Olivia",
    "Noah",
    "Ava",
    "Lucas",
    "Isabella",
    "Mason",
    "Mia",
    "Ethan",
    "Charlotte",
    "Alexander",
    "Amelia",
    "Benjamin",
    "Harper",
    "Leo",
    "Zoe",
    "Daniel",
    "Chloe",
    "Samuel",
    "Lily",
    "Matthew",
    "Grace",
    "Owen",
    "Abigail",
    "Gabriel",
    "Ella",
    "Jacob",
    "Scarlett",
    "Nathan",
    "Victoria",
    "Elijah",
    "Layla",
    "Nicholas",
    "Audrey",
    "David",
    "Hannah",
    "Christopher",
    "Penelope",
    "Thomas",
    "Nora",
    "Andrew",
    "Aria",
    "Joseph",
    "Claire",
    "Ryan",
    "Stella",
    "Jonathan",
)


@register("count:person_names", "ifbench")
@dataclass(frozen=True)
class PersonNames(Checker):
    """At least ``N`` different names from the fixed list of 50, matched as whole words, case-sensitive.

    Example:
        >>> get_checker("count:person_names", {"N": 2}).check("Emma met Liam and emma.").reason
        "2 listed names ('Emma', 'Liam'), needs at least 2"
    """

    N: int
    description: ClassVar[str] = (
        "Mention at least {N} different person names in the response, from this list of "
        "person names: " + ", ".join(PERSON_NAMES) + "."
    )

    def __post_init__(self) -> None:
        self._need_non_negative("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        found = [name for name in PERSON_NAMES if re.search(rf"\b{re.escape(name)}\b", response)]
        return (
            len(found) >= self.N,
            f"{plural(len(found), 'listed name')} ({', '.join(map(repr, found)) or 'none'}), needs at least {self.N}",
        )


@register("count:numbers", "ifbench")
@dataclass(frozen=True)
class NumbersCount(Checker):
    """Exactly ``N`` digit runs once punctuation is deleted (so 3.50 and 1,000 are one number each).

    Example:
        >>> get_checker("count:numbers", {"N": 1}).check("Pay 1,000 now").passed
        True
    """

    N: int
    description: ClassVar[str] = "Include exactly {N} numbers in the response."

    def __post_init__(self) -> None:
        self._need_non_negative("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len(re.findall(r"\d+", _no_punct(response)))
        return n == self.N, f"{plural(n, 'number')}, needs exactly {self.N}"


@register("count:punctuation", "ifbench")
@dataclass(frozen=True)
class PunctuationCover(Checker):
    """Uses . , ! ? ; : each at least once plus an interrobang (``?!``, ``!?`` or ``‽``); the first
    ``?!`` (else ``!?``) is taken out before counting the others, as in the reference.

    Example:
        >>> get_checker("count:punctuation").check("Wait, what?! Yes; no: ok. Fine! Why?").passed
        True
    """

    description: ClassVar[str] = (
        "Use every standard punctuation mark at least once, including semicolons, colons, and the interrobang (?!)."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        if not ("!?" in response or "?!" in response or "‽" in response):
            return False, "no interrobang (?!, !? or ‽)"
        rest = response.replace("?!", "", 1)
        if len(rest) == len(response):
            rest = response.replace("!?", "", 1)
        missing = [mark for mark in ".,!?;:" if mark not in rest]
        if missing:
            return False, "has an interrobang but never uses " + " ".join(missing) + " (outside it)"
        return True, "uses . , ! ? ; : and an interrobang"


@register("count:words_japanese", "ifbench")
@dataclass(frozen=True)
class NthWordJapanese(Checker):
    """Every ``N``-th whitespace token (punctuation stripped; pure digits and empty ones exempt)
    contains a kana or CJK character.

    Example:
        >>> get_checker("count:words_japanese", {"N": 2}).check("I 好き like 犬 dogs").passed
        True
    """

    N: int
    description: ClassVar[str] = "Every {N}th word of your response must be in Japanese."
    _JAPANESE: ClassVar[re.Pattern[str]] = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

    def __post_init__(self) -> None:
        self._need_positive("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        for index, raw in enumerate(response.split(), start=1):
            word = raw.strip(_PUNCT_SPACE)
            if index % self.N == 0 and word and not word.isdigit() and not self._JAPANESE.search(word):
                return False, f"word {index} {quote(word, 30)} is not Japanese (every {self.N}th word must be)"
        return True, f"every {self.N}th word is Japanese"


@register("count:pronouns", "ifbench")
@dataclass(frozen=True)
class PronounCount(Checker):
    """At least ``N`` pronoun tokens (treebank tokens of the lowercased text, '/' read as a space).

    Example:
        >>> get_checker("count:pronouns", {"N": 3}).check("She/her told me.").reason
        '3 pronouns, needs at least 3'
    """

    N: int
    description: ClassVar[str] = "The response should include at least {N} pronouns."
    PRONOUNS: ClassVar[frozenset[str]] = frozenset(
        """
        i me we us you he him she her it they them my mine our ours your yours his hers its their theirs
        myself ourselves yourself yourselves himself herself itself themselves this that these those
        who whom whose which what whoever whomever whatever whichever anybody anyone anything everybody
        everyone everything nobody nothing somebody someone something each either neither both all some
        any none""".split()
    )

    def __post_init__(self) -> None:
        self._need_non_negative("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        tokens = word_tokenize(response.replace("/", " ").lower())
        n = sum(1 for tok in tokens if tok in self.PRONOUNS)
        return n >= self.N, f"{plural(n, 'pronoun')}, needs at least {self.N}"


@register("count:keywords_multiple", "ifbench")
@dataclass(frozen=True)
class KeywordsMultiple(Checker):
    """``keyword1`` … ``keyword5`` occur exactly 1, 2, 3, 5 and 7 times (case-insensitive substring counts).

    Example:
        >>> c = get_checker("count:keywords_multiple", dict(keyword1="a1", keyword2="b2", keyword3="c3",
        ...                                                  keyword4="d4", keyword5="e5"))
        >>> c.check("a1 b2 b2").reason
        "'c3' appears 0 times, needs exactly 3"
    """

    keyword1: str
    keyword2: str
    keyword3: str
    keyword4: str
    keyword5: str
    description: ClassVar[str] = (
        "Include keyword {keyword1} once in your response, keyword {keyword2} twice in your "
        "response, keyword {keyword3} three times in your response, keyword {keyword4} five "
        "times in your response, and keyword {keyword5} seven times in your response."
    )

    def __post_init__(self) -> None:
        for name in ("keyword1", "keyword2", "keyword3", "keyword4", "keyword5"):
            object.__setattr__(self, name, getattr(self, name).strip())

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = response.lower()
        for keyword, wanted in zip(
            (self.keyword1, self.keyword2, self.keyword3, self.keyword4, self.keyword5), (1, 2, 3, 5, 7)
        ):
            n = text.count(keyword.lower())
            if n != wanted:
                return False, f"{keyword!r} appears {plural(n, 'time')}, needs exactly {wanted}"
        return True, "each keyword appears exactly 1, 2, 3, 5 and 7 times"


# ----------------------------------------------------------------------------------------------
# ratio:
# ----------------------------------------------------------------------------------------------


@register("ratio:stop_words", "ifbench")
@dataclass(frozen=True)
class StopWordPercentage(Checker):
    """Stop words (nltk's English list) are at most ``percentage`` % of the ``\\w+`` words.

    Example:
        >>> get_checker("ratio:stop_words", {"percentage": 40}).check("The cat sat on the mat").reason
        '3 of 6 words are stop words (50.0%), needs at most 40%'
    """

    percentage: int
    description: ClassVar[str] = (
        "Ensure that stop words constitute no more than {percentage}% of the total words in your response."
    )

    def __post_init__(self) -> None:
        self._need_non_negative("percentage", self.percentage)

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = count_words(response)
        if n == 0:
            return False, "no words"
        stop = _text.count_stopwords(response)
        share = (stop / n) * 100
        return (
            share <= self.percentage,
            f"{stop} of {plural(n, 'word')} are stop words ({share:.1f}%), needs at most {self.percentage}%",
        )


def _sentence_endings(response: str) -> tuple[int, int, int]:
    sentences = split_sentences(response)
    return (
        sum(s.endswith(".") for s in sentences),
        sum(s.endswith("?") for s in sentences),
        sum(s.endswith("!") for s in sentences),
    )


@register("ratio:sentence_type", "ifbench")
@dataclass(frozen=True)
class SentenceTypeRatio(Checker):
    """Exactly twice as many sentences ending in '.' as sentences ending in '?'.

    Example:
        >>> get_checker("ratio:sentence_type").check("Yes. No. Why?").passed
        True
    """

    description: ClassVar[str] = "Maintain a 2:1 ratio of declarative to interrogative sentences."

    def evaluate(self, response: str) -> tuple[bool, str]:
        declarative, interrogative, _ = _sentence_endings(response)
        return (
            declarative == 2 * interrogative,
            f"{declarative} declarative and {interrogative} interrogative sentences, needs exactly 2:1",
        )


@register("ratio:sentence_balance", "ifbench")
@dataclass(frozen=True)
class SentenceBalance(Checker):
    """As many sentences ending in '.' as in '?' as in '!'.

    Example:
        >>> get_checker("ratio:sentence_balance").check("Go. Why? Wow!").passed
        True
    """

    description: ClassVar[str] = (
        "Ensure that the ratio of sentence types (declarative, interrogative, exclamatory) is balanced."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        counts = _sentence_endings(response)
        return (
            counts[0] == counts[1] == counts[2],
            "{} declarative, {} interrogative, {} exclamatory sentences, needs equal counts".format(*counts),
        )


@register("ratio:overlap", "ifbench")
@dataclass(frozen=True)
class TrigramOverlap(Checker):
    """The share of the response's distinct character trigrams also found in ``reference_text`` is
    within ``percentage`` ± 2 percentage points (the reference runs nltk.ngrams over characters).

    Example:
        >>> get_checker("ratio:overlap", {"reference_text": "abcdef", "percentage": 50}).check("abcxyz").reason
        '25.0% of the response trigrams are in the reference text, needs 48-52%'
    """

    reference_text: str
    percentage: int
    description: ClassVar[str] = (
        "Maintain a trigram overlap of {percentage}% (±2%) with the provided reference text: {reference_text}"
    )

    def __post_init__(self) -> None:
        self._need_non_negative("percentage", self.percentage)

    def evaluate(self, response: str) -> tuple[bool, str]:
        mine = _text.char_trigrams(response)
        if not mine:
            return False, "the response is too short to have trigrams"
        overlap = len(mine & _text.char_trigrams(self.reference_text)) / len(mine)
        return (
            self.percentage - 2 <= overlap * 100 <= self.percentage + 2,
            f"{overlap * 100:.1f}% of the response trigrams are in the reference text, "
            f"needs {self.percentage - 2}-{self.percentage + 2}%",
        )


@register("ratio:sentence_words", "ifbench")
@dataclass(frozen=True)
class SentenceCharacterCount(Checker):
    """Exactly three sentences, all of the same length in characters (the words are not compared,
    as in the reference).

    Example:
        >>> get_checker("ratio:sentence_words").check("Cats nap. Dogs run. Owls fly.").passed
        True
    """

    description: ClassVar[str] = (
        "Respond with three sentences, all containing the same number of characters but using all different words."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        if len(sentences) != 3:
            return False, f"{plural(len(sentences), 'sentence')}, needs exactly 3"
        lengths = [len(s.strip()) for s in sentences]
        if len(set(lengths)) != 1:
            return False, f"sentence lengths {lengths} characters differ"
        return True, f"three sentences of {lengths[0]} characters each"


# ----------------------------------------------------------------------------------------------
# words:
# ----------------------------------------------------------------------------------------------


@register("words:alphabet", "ifbench")
@dataclass(frozen=True)
class AlphabetLoop(Checker):
    """Each word (punctuation deleted) starts with the letter after the previous word's, Z wrapping to A.

    Example:
        >>> get_checker("words:alphabet").check("Yes, zebras are best.").passed
        True
    """

    description: ClassVar[str] = (
        "Each word must start with the next letter of the alphabet, looping back to 'A' after 'Z'."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        alphabet = string.ascii_lowercase
        words = _no_punct(response).strip(_PUNCT_SPACE).split()
        if not words:
            return False, "no words"
        letter = words[0][0].lower()
        # substring test as in the reference (a one-letter string in practice)
        if letter not in alphabet:
            return False, f"the first word {quote(words[0], 30)} does not start with a letter a-z"
        for position, raw in enumerate(words[1:], start=2):
            word = raw.strip(_PUNCT_SPACE).lower()
            if not word:
                continue
            letter = alphabet[(alphabet.index(letter) + 1) % 26]
            if word[0] != letter:
                return False, f"word {position} {quote(raw, 30)} should start with {letter!r}"
        return True, f"all {len(words)} words follow the alphabet"


@register("words:vowel", "ifbench")
@dataclass(frozen=True)
class ThreeVowels(Checker):
    """A single line (one paragraph) using at most three of the vowels a, e, i, o, u.

    Example:
        >>> get_checker("words:vowel").check("A cat ate a hat").reason
        "one paragraph using 2 vowel types ('a', 'e')"
    """

    description: ClassVar[str] = "Write a paragraph using words that contain only three types of vowels."

    def evaluate(self, response: str) -> tuple[bool, str]:
        lines = response.strip().split("\n")
        if len(lines) != 1:
            return False, f"{plural(len(lines), 'line')}, needs a single paragraph on one line"
        vowels = sorted(set(lines[0].lower()) & set("aeiou"))
        return (
            len(vowels) <= 3,
            f"one paragraph using {plural(len(vowels), 'vowel type')} ({', '.join(map(repr, vowels))})"
            + ("" if len(vowels) <= 3 else ", needs at most 3"),
        )


@register("words:consonants", "ifbench")
@dataclass(frozen=True)
class ConsonantClusters(Checker):
    """Every whitespace token contains two adjacent consonant letters (b-z except vowels; y counts).

    Example:
        >>> get_checker("words:consonants").check("Strong winds blew").passed
        True
    """

    description: ClassVar[str] = (
        "Ensure each word in your response has at least one consonant cluster (two or more consonants together)."
    )
    _CLUSTER: ClassVar[re.Pattern[str]] = re.compile(r"[bcdfghjklmnpqrstvwxyz]{2}")

    def evaluate(self, response: str) -> tuple[bool, str]:
        for word in response.lower().strip().split():
            if not self._CLUSTER.search(word):
                return False, f"{quote(word, 30)} has no consonant cluster"
        return True, "every word has a consonant cluster"


@register("words:palindrome", "ifbench")
@dataclass(frozen=True)
class Palindromes(Checker):
    """At least 10 palindrome words of 5+ characters (repeats count; punctuation deleted, lowercased).

    Example:
        >>> get_checker("words:palindrome").check("Level radar kayak").reason
        '3 palindromes of 5+ letters (level, radar, kayak), needs at least 10'
    """

    description: ClassVar[str] = "Include at least 10 single-word palindromes, each at least 5 characters long."

    def evaluate(self, response: str) -> tuple[bool, str]:
        found = [w for w in _no_punct(response).lower().split() if w == w[::-1] and len(w) >= 5]
        return (
            len(found) >= 10,
            f"{plural(len(found), 'palindrome')} of 5+ letters ({', '.join(found[:12]) or 'none'}), needs at least 10",
        )


_PRIMES = frozenset({2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97})


@register("words:prime_lengths", "ifbench")
@dataclass(frozen=True)
class PrimeLengths(Checker):
    """Every word (punctuation deleted) has a prime number of characters (up to 97).

    Example:
        >>> get_checker("words:prime_lengths").check("The big fox ran.").passed
        True
    """

    description: ClassVar[str] = "Use only words with lengths that are prime numbers."

    def evaluate(self, response: str) -> tuple[bool, str]:
        for word in _no_punct(response).split():
            if len(word) not in _PRIMES:
                return False, f"{quote(word, 30)} has {len(word)} characters, not a prime number"
        return True, "every word has a prime length"


@register("words:start_verb", "ifbench")
@dataclass(frozen=True)
class StartWithVerb(Checker):
    """The first treebank token is tagged as a verb (VB*) by the averaged perceptron POS tagger.

    Without nltk's own model (see :mod:`verif_nb.checkers.text`) a substitute model is used and
    the verdict can differ from the reference's; scorers report how many checks rested on it.

    Example:
        >>> get_checker("words:start_verb").check("Imagine a world.").passed
        True
    """

    description: ClassVar[str] = "The response must start with a verb."

    def evaluate(self, response: str) -> tuple[bool, str]:
        tokens = word_tokenize(response)
        tag = _text.first_token_tag(tokens)
        if tag is None:
            return False, "no tokens"
        return "VB" in tag, f"the first word {quote(tokens[0], 30)} is tagged {tag}" + (
            "" if "VB" in tag else ", not a verb"
        )


@register("words:repeats", "ifbench")
@dataclass(frozen=True)
class LimitedRepeats(Checker):
    """No word (lowercased, punctuation deleted) occurs more than ``small_n`` times.

    Example:
        >>> get_checker("words:repeats", {"small_n": 1}).check("No, no!").reason
        "'no' occurs 2 times, more than 1"
    """

    small_n: int
    description: ClassVar[str] = "The response should not repeat any word more than {small_n} times."

    def __post_init__(self) -> None:
        self._need_non_negative("small_n", self.small_n)

    def evaluate(self, response: str) -> tuple[bool, str]:
        counts = Counter(_no_punct(response.lower()).split())
        word, n = counts.most_common(1)[0] if counts else ("", 0)
        if n > self.small_n:
            return False, f"{word!r} occurs {plural(n, 'time')}, more than {self.small_n}"
        return True, f"no word occurs more than {self.small_n} times"


@register("words:odd_even_syllables", "ifbench")
@dataclass(frozen=True)
class AlternatingSyllableParity(Checker):
    """Consecutive words alternate between odd and even syllable counts (syllapy's counts).

    Example:
        >>> get_checker("words:odd_even_syllables").check("Cat apple dog").passed
        True
    """

    description: ClassVar[str] = "Alternate between words with odd and even numbers of syllables."

    def evaluate(self, response: str) -> tuple[bool, str]:
        words = [w for w in _no_punct(response).lower().split() if w.strip()]
        parity = [_text.count_syllables(w) % 2 for w in words]
        for i in range(len(parity) - 1):
            if parity[i] == parity[i + 1]:
                kind = "odd" if parity[i] else "even"
                return (
                    False,
                    f"{quote(words[i], 20)} and {quote(words[i + 1], 20)} both have an {kind} syllable count",
                )
        return True, "syllable counts alternate between odd and even"


@register("words:last_first", "ifbench")
@dataclass(frozen=True)
class LastWordFirstNext(Checker):
    """Each sentence's last word (trailing punctuation stripped) is the next sentence's first word,
    case-insensitively.

    Example:
        >>> get_checker("words:last_first").check("I like tea. Tea is warm.").passed
        True
    """

    description: ClassVar[str] = "The last word of each sentence must become the first word of the next sentence."

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        for i in range(len(sentences) - 1):
            last = sentences[i].rstrip(_PUNCT_SPACE).split()
            first = sentences[i + 1].lstrip(_PUNCT_SPACE).split()
            if not last or not first:
                return False, f"sentence {i + 1 if not last else i + 2} has no words"
            if last[-1].lower() != first[0].lower():
                return False, (
                    f"sentence {i + 1} ends with {quote(last[-1], 20)} but sentence {i + 2} "
                    f"starts with {quote(first[0], 20)}"
                )
        return True, f"all {len(sentences)} sentences chain last word to first word"


@register("words:paragraph_last_first", "ifbench")
@dataclass(frozen=True)
class ParagraphLastFirst(Checker):
    """Every non-empty line starts and ends with the same word (lowercased, edge punctuation stripped).

    Example:
        >>> get_checker("words:paragraph_last_first").check("Home is where I go home.\\nRain falls, rain").passed
        True
    """

    description: ClassVar[str] = (
        "Each paragraph must end with the same word it started with, separate paragraphs with a newline."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        for number, line in enumerate(response.split("\n"), start=1):
            words = line.strip().lower().strip(_PUNCT_SPACE).split()
            if words and words[0] != words[-1]:
                return False, f"line {number} starts with {quote(words[0], 20)} but ends with {quote(words[-1], 20)}"
        return True, "every paragraph ends with the word it starts with"


@register("words:no_consecutive", "ifbench")
@dataclass(frozen=True)
class NoConsecutiveFirstLetter(Checker):
    """No two neighbouring words (lowercased, punctuation deleted) start with the same character.

    Example:
        >>> get_checker("words:no_consecutive").check("Big blue sky").reason
        "'big' and 'blue' both start with 'b'"
    """

    description: ClassVar[str] = "No two consecutive words can share the same first letter."

    def evaluate(self, response: str) -> tuple[bool, str]:
        words = _no_punct(response.lower()).split()
        for a, b in zip(words, words[1:]):
            if a[0] == b[0]:
                return False, f"{quote(a, 20)} and {quote(b, 20)} both start with {a[0]!r}"
        return True, "no two consecutive words share a first letter"


@register("words:keywords_specific_position", "ifbench")
@dataclass(frozen=True)
class KeywordAtPosition(Checker):
    """Word ``m`` of sentence ``n`` is ``keyword`` (case-insensitive; words are treebank tokens with a
    letter or digit in them).

    Example:
        >>> get_checker("words:keywords_specific_position", {"keyword": "blue", "n": 2, "m": 3}).check(
        ...     "Hi. The sky, blue today.").passed
        True
    """

    keyword: str
    n: int
    m: int
    description: ClassVar[str] = (
        "Include keyword {keyword} in the {n}-th sentence, as the {m}-th word of that sentence."
    )

    def __post_init__(self) -> None:
        self._need_text("keyword", self.keyword)
        object.__setattr__(self, "keyword", self.keyword.strip())
        self._need_positive("n", self.n)
        self._need_positive("m", self.m)

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        if len(sentences) < self.n:
            return False, f"{plural(len(sentences), 'sentence')}, needs at least {self.n}"
        words = [t for t in word_tokenize(sentences[self.n - 1]) if any(ch.isalnum() for ch in t)]
        if len(words) < self.m:
            return False, f"sentence {self.n} has {plural(len(words), 'word')}, needs at least {self.m}"
        word = words[self.m - 1]
        if word.lower() == self.keyword.lower():
            return True, f"word {self.m} of sentence {self.n} is {self.keyword!r}"
        return False, f"word {self.m} of sentence {self.n} is {quote(word, 30)}, not {self.keyword!r}"


@register("words:words_position", "ifbench")
@dataclass(frozen=True)
class KeywordSecondAndSecondLast(Checker):
    """The second treebank token and the second-to-last word are ``keyword`` (case-insensitive);
    a final punctuation token is skipped when finding the second-to-last word.

    Example:
        >>> get_checker("words:words_position", {"keyword": "cat"}).check("A cat saw the cat go.").passed
        True
    """

    keyword: str
    description: ClassVar[str] = (
        "The second word in your response and the second to last word in your response should be the word {keyword}."
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyword", self.keyword.strip())

    def evaluate(self, response: str) -> tuple[bool, str]:
        tokens = word_tokenize(response)
        if len(tokens) < 2:
            return False, f"{plural(len(tokens), 'token')}, needs at least 2"
        # a substring test on string.punctuation, as in the reference: '.', '!', '()' all count
        if tokens[-1] in PUNCT:
            if len(tokens) < 3:
                return False, "too few words before the final punctuation"
            second_last = tokens[-3]
        else:
            second_last = tokens[-2]
        wanted = self.keyword.lower()
        if tokens[1].lower() == second_last.lower() == wanted:
            return True, f"the second and second-to-last words are {self.keyword!r}"
        return False, (
            f"the second word is {quote(tokens[1], 20)} and the second-to-last is "
            f"{quote(second_last, 20)}; both must be {self.keyword!r}"
        )


# ----------------------------------------------------------------------------------------------
# sentence:
# ----------------------------------------------------------------------------------------------


@register("sentence:alliteration_increment", "ifbench")
@dataclass(frozen=True)
class IncrementingAlliteration(Checker):
    """Each sentence's alliteration score is higher than the previous one's. The score adds 2 for a
    pair of neighbouring words sharing a first character and 1 for each further word continuing the
    run (words lowercased, leading punctuation stripped).

    Example:
        >>> get_checker("sentence:alliteration_increment").check("A cat ran. Big bold bears bite.").passed
        True
    """

    description: ClassVar[str] = (
        "Each sentence must have a longer sequence of consecutive alliterative words than the previous one."
    )

    @staticmethod
    def _score(sentence: str) -> int:
        words = [w for w in (raw.lstrip(_PUNCT_SPACE) for raw in sentence.lower().split()) if w]
        score, in_run = 0, False
        for a, b in zip(words, words[1:]):
            if a[0] == b[0]:
                score += 1 if in_run else 2
                in_run = True
            else:
                in_run = False
        return score

    def evaluate(self, response: str) -> tuple[bool, str]:
        previous = -1
        scores = []
        for number, sentence in enumerate(split_sentences(response), start=1):
            score = self._score(sentence)
            scores.append(score)
            if score <= previous:
                return False, f"alliteration scores {scores}: sentence {number} does not exceed the one before"
            previous = score
        return True, f"alliteration scores {scores} keep rising"


@register("sentence:keyword", "ifbench")
@dataclass(frozen=True)
class KeywordInSentence(Checker):
    """Sentence ``N`` contains ``word`` as a whole word (case-insensitive).

    Example:
        >>> get_checker("sentence:keyword", {"word": "moon", "N": 2}).check("Hi. The Moon rose.").passed
        True
    """

    word: str
    N: int
    description: ClassVar[str] = 'The response must include keyword "{word}" in the {N}-th sentence.'

    def __post_init__(self) -> None:
        self._need_text("word", self.word)
        self._need_positive("N", self.N)

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        if len(sentences) < self.N:
            return False, f"{plural(len(sentences), 'sentence')}, needs at least {self.N}"
        if re.search(rf"\b{re.escape(self.word)}\b", sentences[self.N - 1], re.IGNORECASE):
            return True, f"sentence {self.N} contains {self.word!r}"
        return False, f"sentence {self.N} {quote(sentences[self.N - 1])} lacks {self.word!r}"


@register("sentence:increment", "ifbench")
@dataclass(frozen=True)
class IncrementingWordCount(Checker):
    """Each sentence has exactly ``small_n`` more words (punctuation deleted) than the one before.

    Example:
        >>> get_checker("sentence:increment", {"small_n": 1}).check("I ran. We all ran. They all ran fast.").passed
        True
    """

    small_n: int
    description: ClassVar[str] = "Each sentence must contain exactly {small_n} more words than the previous one."

    def __post_init__(self) -> None:
        self._need_non_negative("small_n", self.small_n)

    def evaluate(self, response: str) -> tuple[bool, str]:
        counts = [len(_no_punct(s).split()) for s in split_sentences(response)]
        if not counts:
            return False, "no sentences"
        for i in range(1, len(counts)):
            if counts[i] != counts[i - 1] + self.small_n:
                return (
                    False,
                    f"words per sentence {counts}: sentence {i + 1} should have {counts[i - 1] + self.small_n}",
                )
        return True, f"words per sentence {counts} grow by {self.small_n}"


# ----------------------------------------------------------------------------------------------
# format:
# ----------------------------------------------------------------------------------------------


@register("format:parentheses", "ifbench")
@dataclass(frozen=True)
class NestedBrackets(Checker):
    """Brackets ( [ { nested at least 5 deep, with the innermost group closed; a closing bracket that
    does not match resets the count (the reference's scan).

    Example:
        >>> get_checker("format:parentheses").check("a (b [c {d (e [f] e) d} c] b) a").passed
        True
    """

    description: ClassVar[str] = "Nest parentheses (and [brackets {{and braces}}]) at least 5 levels deep."
    _PAIRS: ClassVar[dict[str, str]] = {")": "(", "]": "[", "}": "{"}

    def evaluate(self, response: str) -> tuple[bool, str]:
        stack: list[str] = []
        deepest = 0
        for char in response:
            if char in "([{":
                stack.append(char)
                deepest = max(deepest, len(stack))
            elif char in ")]}":
                if stack and stack[-1] == self._PAIRS[char]:
                    stack.pop()
                    if deepest >= 5 and len(stack) < deepest:
                        return True, f"brackets nested {deepest} levels deep"
                else:
                    stack, deepest = [], 0
        return False, f"brackets never closed at 5 levels deep (deepest open run: {deepest})"


@register("format:quotes", "ifbench")
@dataclass(frozen=True)
class NestedQuotes(Checker):
    """Quotes nested at least 3 deep: each \" or ' closes the innermost open quote when it matches it,
    otherwise opens a new level (apostrophes count too, as in the reference).

    Example:
        >>> get_checker("format:quotes").check('He said "she said \\'they said "hi" \\' " ').passed
        True
    """

    description: ClassVar[str] = (
        "Include quotes within quotes within quotes, at least 3 levels deep, alternating "
        "between double quotes and single quotes."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        stack: list[str] = []
        reached = 0
        for char in response:
            if stack and char == stack[-1]:
                stack.pop()
                if reached - len(stack) >= 3:
                    return True, f"quotes nested {reached} levels deep"
            elif char in "\"'":
                stack.append(char)
                reached = max(reached, len(stack))
        return False, f"quotes are not closed 3 levels deep (deepest opening: {reached})"


@register("format:options", "ifbench")
@dataclass(frozen=True)
class OptionsResponse(Checker):
    """The response is one of ``options``, split on '/', else on "or", else on ','. For letter options
    (a), b), c) ...) the response must equal one exactly; otherwise case and edge punctuation are ignored.

    Example:
        >>> get_checker("format:options", {"options": "yes/no/maybe"}).check("Yes.").passed
        True
    """

    options: str
    description: ClassVar[str] = "Answer with one of the following options: {options}. Do not give any explanation."

    @property
    def _letters(self) -> bool:
        return re.match(r"\W*[aA]\W*[bB]\W*[cC]\W*", self.options) is not None

    @property
    def choices(self) -> list[str]:
        """The options as the reference splits them: on '/', else on "or", else on ','.

        Example:
            >>> get_checker("format:options", {"options": "I know or I don't know"}).choices
            ['I know', "I don't know"]
        """
        separator = "/" if "/" in self.options else "or" if "or" in self.options else ","
        return [option.strip() for option in self.options.split(separator)]

    def evaluate(self, response: str) -> tuple[bool, str]:
        choices = self.choices
        if self._letters:
            if response in choices:
                return True, f"exactly the option {response!r}"
            return False, f"{quote(response)} is not exactly one of {choices}"
        answer = response.strip(_PUNCT_SPACE).lower()
        for option in choices:
            if option.strip(_PUNCT_SPACE).lower() == answer:
                return True, f"the option {option!r}"
        return False, f"{quote(response)} is not one of {choices}"


@register("format:newline", "ifbench")
@dataclass(frozen=True)
class WordPerLine(Checker):
    """Each word on its own line: with punctuation deleted, the non-empty lines are as many as the words.

    Example:
        >>> get_checker("format:newline").check("One\\ntwo\\n\\nthree").passed
        True
    """

    description: ClassVar[str] = "Write each word on a new line."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = _no_punct(response).strip()
        lines = [line for line in text.split("\n") if line != ""]
        words = len(text.split())
        return (
            len(lines) == words,
            f"{plural(words, 'word')} on {plural(len(lines), 'non-empty line')}, needs one word per line",
        )


@register("format:emoji", "ifbench")
@dataclass(frozen=True)
class EmojiPerSentence(Checker):
    """Every sentence ends with an emoji (one of its last two characters once punctuation is deleted),
    or the next sentence starts with one (Punkt often puts the emoji there).

    Example:
        >>> get_checker("format:emoji").check("I love tea \\N{HOT BEVERAGE}. Good night \\N{CRESCENT MOON}").passed
        True
    """

    description: ClassVar[str] = "Please use an emoji at the end of every sentence."

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        for i, sentence in enumerate(sentences):
            text = _no_punct(sentence).strip()
            if not text:
                return False, f"sentence {i + 1} is only punctuation"
            if _text.is_emoji(text[-1]) or _text.is_emoji(text[-2] if len(text) > 1 else text[-1]):
                continue
            if i == len(sentences) - 1:
                return False, f"the last sentence {quote(sentence)} does not end with an emoji"
            following = _no_punct(sentences[i + 1]).strip()
            if not following:
                return False, f"sentence {i + 2} is only punctuation"
            if not _text.is_emoji(following[0]):
                return False, f"sentence {i + 1} {quote(sentence)} does not end with an emoji"
        return True, f"all {plural(len(sentences), 'sentence')} end with an emoji"


@register("format:line_indent", "ifbench")
@dataclass(frozen=True)
class IndentStairs(Checker):
    """Each line is indented by more spaces than the line before.

    Reference quirk kept: blank lines are dropped by removing items from the list while walking it,
    so a blank line right after another blank line stays in (and then breaks the stairs).

    Example:
        >>> get_checker("format:line_indent").check("a\\n b\\n  c").passed
        True
    """

    description: ClassVar[str] = "Create stairs by incrementally indenting each new line."

    def evaluate(self, response: str) -> tuple[bool, str]:
        lines = response.split("\n")
        index = 0
        while index < len(lines):  # the reference's remove-while-iterating, step by step
            if not lines[index].strip():
                lines.remove(lines[index])
            index += 1
        indents = [len(line) - len(line.lstrip(" ")) for line in lines]
        for i in range(len(indents) - 1):
            if indents[i + 1] <= indents[i]:
                return False, f"line {i + 2} is indented {indents[i + 1]} spaces, not more than {indents[i]}"
        return True, "every line is indented more than the one before"


@register("format:quote_unquote", "ifbench")
@dataclass(frozen=True)
class QuoteExplanation(Checker):
    """No two quoted phrases back to back and no quote at the very end (whitespace, and trailing
    digits and punctuation other than '"', ignored; a quoted '"' character is not a quote).

    Example:
        >>> get_checker("format:quote_unquote").check('"Carpe diem" means seize the day.').passed
        True
    """

    description: ClassVar[str] = "Every quoted phrase must be followed by an unquoted explanation."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = "".join(response.replace("'\"'", "").split())
        if '""' in text:
            return False, "a quoted phrase directly follows another with no explanation between them"
        tail = text.strip(string.digits + PUNCT.replace('"', ""))
        if tail and tail[-1] == '"':
            return False, "the response ends with a quoted phrase and no explanation after it"
        return True, "every quoted phrase is followed by unquoted text"


@register("format:list", "ifbench")
@dataclass(frozen=True)
class CustomBullets(Checker):
    """The marker ``sep`` appears at least twice (anywhere, as in the reference).

    Example:
        >>> get_checker("format:list", {"sep": "->"}).check("-> milk\\n-> eggs").passed
        True
    """

    sep: str
    description: ClassVar[str] = "Answer with a list of items, instead of bullet points use {sep}."

    def __post_init__(self) -> None:
        if not self.sep:
            raise self._fail("sep must be a non-empty marker")

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = response.count(self.sep)
        return n >= 2, f"the marker {self.sep!r} appears {plural(n, 'time')}, needs at least 2"


@register("format:thesis", "ifbench")
@dataclass(frozen=True)
class ItalicThesis(Checker):
    """Has a non-empty ``<i>…</i>`` (or ``<em>…</em>``) span followed by more text.

    Reference quirks kept: the span's text is cut 3 characters after the opening tag and the rest
    starts 4 characters after the closing tag, whichever tag was used.

    Example:
        >>> get_checker("format:thesis").check("<i>Cats rule.</i> Here is why.").passed
        True
    """

    description: ClassVar[str] = (
        "Each section must begin with a thesis statement in italics, use HTML to indicate the italics."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        start = response.find("<i>")
        if start == -1:
            start = response.find("<em>")
            if start == -1:
                return False, "no <i> or <em> tag"
        text = response[start:]
        end = text.find("</i>")
        if end == -1:
            end = text.find("</em>")
            if end == -1:
                return False, "the italic thesis is never closed"
        if text[3:end].strip() == "":
            return False, "the italic thesis is empty"
        if text[end + 4 :].strip() == "":
            return False, "nothing follows the italic thesis"
        return True, "an italic thesis followed by text"


@register("format:sub-bullets", "ifbench")
@dataclass(frozen=True)
class SubBullets(Checker):
    """Every piece of text after a '*' contains a '-' (so a response with no '*' passes, as in the reference).

    Example:
        >>> get_checker("format:sub-bullets").check("* Fruit\\n  - apple\\n* Veg\\n  - kale").passed
        True
    """

    description: ClassVar[str] = (
        "Your response must include bullet points denoted by * and at least one sub-bullet "
        "point denoted by - for each bullet point."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        pieces = response.split("*")[1:]
        for number, piece in enumerate(pieces, start=1):
            if "-" not in piece:
                return False, f"the text after '*' number {number} {quote(piece.strip(), 40)} has no '-' sub-bullet"
        return True, f"all {plural(len(pieces), 'bullet')} have a '-' sub-bullet"


@register("format:no_bullets_bullets", "ifbench")
@dataclass(frozen=True)
class SentencesThenBullets(Checker):
    """At least two sentences, then at least two lines starting with '*', and nothing after the bullets.

    Reference quirks kept: a line with no sentence (a blank line) ends the sentence part, so any
    later line that is not a bullet fails; a blank line among or after the bullets fails too.

    Example:
        >>> get_checker("format:no_bullets_bullets").check("It rains. Take a coat.\\n* coat\\n* hat").passed
        True
    """

    description: ClassVar[str] = (
        "Your answer must contain at least two sentences ending in a period followed by at "
        "least two bullet points denoted by *."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        reading_sentences = True
        sentences = bullets = 0
        for number, line in enumerate(response.split("\n"), start=1):
            if line.strip().startswith("*"):
                reading_sentences = False
                if sentences < 2:
                    return False, f"bullet on line {number} comes after only {plural(sentences, 'sentence')}"
                bullets += 1
            elif reading_sentences:
                found = len(split_sentences(line.strip()))
                sentences += found
                reading_sentences = found > 0
            else:
                return False, f"line {number} is neither a bullet nor part of the opening sentences"
        return bullets >= 2, f"{plural(sentences, 'sentence')} then {plural(bullets, 'bullet')}" + (
            "" if bullets >= 2 else ", needs at least 2 bullets"
        )


@register("format:title_case", "ifbench")
@dataclass(frozen=True)
class TitleCase(Checker):
    """No treebank token starting with a letter is all-lowercase, or lowercase-then-uppercase
    ("iPHONE"); one-letter words must be capitals.

    Example:
        >>> get_checker("format:title_case").check("The Cat In The Hat").passed
        True
    """

    description: ClassVar[str] = (
        "Write the entire response in title case (capitalize the first letter of every major word)."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        for token in word_tokenize(response):
            if not token or not token[0].isalpha():
                continue
            if len(token) == 1:
                if token.islower():
                    return False, f"{token!r} is not capitalised"
                continue
            head, tail = token[0], token[1:]
            if head.isupper() and tail.islower():
                continue
            if head.islower() and (tail.isupper() or tail.islower()):
                return False, f"{quote(token, 30)} is not capitalised"
        return True, "every word is capitalised"


@register("format:output_template", "ifbench")
@dataclass(frozen=True)
class OutputTemplate(Checker):
    """Contains the three labels 'My Answer:', 'My Conclusion:' and 'Future Outlook:' (case-sensitive).

    Example:
        >>> get_checker("format:output_template").check("My Answer: yes").reason
        "missing 'My Conclusion:', 'Future Outlook:'"
    """

    description: ClassVar[str] = (
        "Use this exact template for your response: My Answer: [answer] My Conclusion: "
        "[conclusion] Future Outlook: [outlook]"
    )
    LABELS: ClassVar[tuple[str, ...]] = ("My Answer:", "My Conclusion:", "Future Outlook:")

    def evaluate(self, response: str) -> tuple[bool, str]:
        missing = [label for label in self.LABELS if label not in response]
        if missing:
            return False, "missing " + ", ".join(map(repr, missing))
        return True, "uses the three template labels"


@register("format:no_whitespace", "ifbench")
@dataclass(frozen=True)
class NoWhitespace(Checker):
    """No whitespace character at all.

    Example:
        >>> get_checker("format:no_whitespace").check("no spaces").passed
        False
    """

    description: ClassVar[str] = "The output should not contain any whitespace."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = sum(1 for char in response if char.isspace())
        return n == 0, "no whitespace" if n == 0 else f"contains {plural(n, 'whitespace character')}"


# ----------------------------------------------------------------------------------------------
# custom: (each one a fixed task with a known answer shape)
# ----------------------------------------------------------------------------------------------


@register("custom:multiples", "ifbench")
@dataclass(frozen=True)
class MultiplesOfSeven(Checker):
    """The numbers in the response are exactly 14, 21, 28, 35, 42, 49, in that order.

    Example:
        >>> get_checker("custom:multiples").check("14, 21, 28, 35, 42, 49").passed
        True
    """

    description: ClassVar[str] = "Count from 10 to 50 but only print multiples of 7."
    WANTED: ClassVar[list[str]] = [str(i) for i in range(14, 51, 7)]

    def evaluate(self, response: str) -> tuple[bool, str]:
        numbers = re.findall(r"\d+", response)
        if numbers == self.WANTED:
            return True, "exactly the multiples of 7 from 14 to 49"
        return False, f"numbers {numbers[:10]}{'…' if len(numbers) > 10 else ''}, needs exactly {self.WANTED}"


@register("custom:mcq_count_length", "ifbench")
@dataclass(frozen=True)
class MultipleChoiceQuestions(Checker):
    """Starts with 'Question'; four questions ('Question N' labels), each with five options (lines
    'A.'/'a)' … 'E.'), question texts strictly growing in length.

    Example:
        >>> q = "\\n".join(f"Question {i}: " + "Why? " * i + "\\nA. a\\nB. b\\nC. c\\nD. d\\nE. e" for i in range(1, 5))
        >>> get_checker("custom:mcq_count_length").check(q).passed
        True
    """

    description: ClassVar[str] = (
        "Generate 4 multiple choice questions with 5 options each about '20th century art "
        'history\'. Each question should start with the label "Question". The questions '
        "should get progressively longer. Do not provide an explanation."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        if response[response.find("Question") :] != response:
            return False, "does not start with 'Question' (no preamble allowed)"
        parts = re.split(r"\n*(?:Question \d+[\.|\):;]?\s*)", response)
        if parts[0] == "":
            parts = parts[1:]
        questions = [p.strip() for p in parts if p.strip()]
        if len(questions) != 4:
            return False, f"{plural(len(questions), 'question')}, needs exactly 4"
        lengths = []
        for number, question in enumerate(questions, start=1):
            text, options, in_options = "", 0, False
            for line in question.split("\n"):
                if re.match(r"^[A-Ea-e][\.|\)]\s*\w+", line.strip()):
                    options += 1
                    in_options = True
                elif not in_options:
                    text += " " + line.strip()
            if options != 5:
                return False, f"question {number} has {plural(options, 'option')}, needs 5"
            lengths.append(len(text.strip()))
        if all(a < b for a, b in zip(lengths, lengths[1:])):
            return True, f"four questions with five options, lengths {lengths} growing"
        return False, f"question lengths {lengths} do not grow strictly"


@register("custom:reverse_newline", "ifbench")
@dataclass(frozen=True)
class AfricanCountriesReversed(Checker):
    """From the first line naming Zimbabwe on, at least 52 non-empty lines in reverse alphabetical
    order (accents folded to ASCII, edge punctuation stripped).

    Example:
        >>> get_checker("custom:reverse_newline").check("Zimbabwe\\nZambia\\nUganda").reason
        '3 lines from Zimbabwe on, needs at least 52'
    """

    description: ClassVar[str] = "List the countries of Africa in reverse alphabetical order, each on a new line."

    def evaluate(self, response: str) -> tuple[bool, str]:
        lines = [line.strip(_PUNCT_SPACE) for line in response.split("\n") if line.strip(_PUNCT_SPACE)]
        start = next((i for i, line in enumerate(lines) if "Zimbabwe" in line), None)
        if start is None:
            return False, "no line names Zimbabwe"
        lines = lines[start:]
        if len(lines) < 52:
            return False, f"{plural(len(lines), 'line')} from Zimbabwe on, needs at least 52"
        folded = [_ascii_fold(line) for line in lines]
        if folded != sorted(folded, reverse=True):
            return False, "the lines are not in reverse alphabetical order"
        return True, f"{len(lines)} lines in reverse alphabetical order"


@register("custom:word_reverse", "ifbench")
@dataclass(frozen=True)
class WordsReversed(Checker):
    """Read backwards word by word (lowercased, punctuation deleted) the response mentions 'bald
    eagle' and is a single sentence.

    Example:
        >>> get_checker("custom:word_reverse").check("eagle bald the is It").passed
        True
    """

    description: ClassVar[str] = (
        "What animal is the national symbol of the US? Respond to this query, but make your "
        "sentence in reverse order of what it should be, per word."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        forward = " ".join(_no_punct(response.lower().strip()).split()[::-1])
        if "bald eagle" not in forward:
            return False, "read backwards it does not say 'bald eagle'"
        if forward not in split_sentences(forward):
            return False, "read backwards it is not one sentence"
        return True, "read backwards it is one sentence naming the bald eagle"


@register("custom:character_reverse", "ifbench")
@dataclass(frozen=True)
class CharactersReversed(Checker):
    """Contains 'elgae dlab' ('bald eagle' spelled backwards), case-insensitive.

    Example:
        >>> get_checker("custom:character_reverse").check("Elgae dlab.").passed
        True
    """

    description: ClassVar[str] = (
        "What animal is the national symbol of the US? Respond to this query, but make your "
        "sentence in reverse order of what it should be, per letter."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        if "elgae dlab" in response.lower():
            return True, "contains 'bald eagle' spelled backwards"
        return False, "does not contain 'elgae dlab'"


@register("custom:sentence_alphabet", "ifbench")
@dataclass(frozen=True)
class AlphabetSentences(Checker):
    """Exactly 26 sentences, the i-th starting with the i-th letter of the alphabet (case-insensitive).

    Example:
        >>> get_checker("custom:sentence_alphabet").check("A cat. Big dog.").reason
        '2 sentences, needs exactly 26'
    """

    description: ClassVar[str] = (
        "Tell me a 26-sentence story where each sentence's first word starts with the letters of the alphabet in order."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        sentences = split_sentences(response)
        if len(sentences) != 26:
            return False, f"{plural(len(sentences), 'sentence')}, needs exactly 26"
        for i, sentence in enumerate(sentences):
            words = sentence.lstrip().split()
            if not words or words[0].lower()[0] != chr(97 + i):
                return False, f"sentence {i + 1} {quote(sentence, 30)} does not start with {chr(97 + i)!r}"
        return True, "26 sentences starting a to z"


EUROPEAN_CAPITALS_NORTH_TO_SOUTH: tuple[str, ...] = (
    "Reykjavik",
    "Helsinki",
    "Oslo",
    "Tallinn",
    "Stockholm",
    "Riga",
    "Moscow",
    "Copenhagen",
    "Vilnius",
    "Minsk",
    "Dublin",
    "Berlin",
    "Amsterdam",
    "Warsaw",
    "London",
    "Brussels",
    "Prague",
    "Luxembourg",
    "Paris",
    "Vienna",
    "Bratislava",
    "Budapest",
    "Vaduz",
    "Chisinau",
    "Bern",
    "Ljubljana",
    "Zagreb",
)


@register("custom:european_capitals_sort", "ifbench")
@dataclass(frozen=True)
class EuropeanCapitals(Checker):
    """Exactly the 27 listed capitals north of 45°, comma-separated, north to south (accents folded).

    Example:
        >>> get_checker("custom:european_capitals_sort").check(", ".join(EUROPEAN_CAPITALS_NORTH_TO_SOUTH)).passed
        True
    """

    description: ClassVar[str] = (
        "Give me the names of all capital cities of european countries whose latitude is "
        "higher than than 45 degrees? List the capital cities without country names, "
        "separated by commas, sorted by latitude, from highest to lowest."
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        names = [name for name in _ascii_fold(response).split(",") if name.strip()]
        wanted = EUROPEAN_CAPITALS_NORTH_TO_SOUTH
        if len(names) != len(wanted):
            return False, f"{plural(len(names), 'comma-separated name')}, needs exactly {len(wanted)}"
        for i, (name, city) in enumerate(zip(names, wanted), start=1):
            if name.strip() != city:
                return False, f"name {i} is {quote(name.strip(), 30)}, needs {city!r}"
        return True, "the 27 capitals in order"


@register("custom:csv_city", "ifbench")
@dataclass(frozen=True)
class CityCSV(Checker):
    """CSV with the header ID,Country,City,Year,Count and 7 rows of 5 fields.

    Example:
        >>> rows = "\\n".join(["ID,Country,City,Year,Count"] + [f"{i},FR,Paris,2020,{i}" for i in range(7)])
        >>> get_checker("custom:csv_city").check(rows).passed
        True
    """

    description: ClassVar[str] = (
        'Generate CSV data: The column names are ["ID", "Country", "City", "Year", "Count"], '
        "the data should be comma delimited. Please generate 7 rows."
    )
    HEADER: ClassVar[list[str]] = ["ID", "Country", "City", "Year", "Count"]

    def evaluate(self, response: str) -> tuple[bool, str]:
        rows = list(csv.reader(io.StringIO(response)))
        if len(rows) != 8:
            return False, f"{plural(len(rows), 'CSV row')}, needs a header and 7 rows"
        if rows[0] != self.HEADER:
            return False, f"header {rows[0]} is not {self.HEADER}"
        for number, row in enumerate(rows[1:], start=1):
            if len(row) != 5:
                return False, f"row {number} has {plural(len(row), 'field')}, needs 5"
        return True, "a header and 7 rows of 5 fields"


@register("custom:csv_special_character", "ifbench")
@dataclass(frozen=True)
class SpecialCharacterCSV(Checker):
    """Header ProductID,Category,Brand,Price,Stock, 14 rows of 5 fields, and a double-quoted field with
    a special character among the rows checked before the first malformed row.

    Reference quirk kept: every '"' is tripled before parsing, so quoted fields keep their quotes.

    Example:
        >>> rows = ["ProductID,Category,Brand,Price,Stock"] + [f"{i},Toys,Acme,9,1" for i in range(13)]
        >>> get_checker("custom:csv_special_character").check("\\n".join(rows + ['13,"Toys & Games",Acme,9,1'])).passed
        True
    """

    description: ClassVar[str] = (
        'Generate CSV data: The column names are ["ProductID", "Category", "Brand", "Price", '
        '"Stock"], the data should be comma delimited. Please generate 14 rows. Add one '
        "field which contains a special character and enclose it in double quotes."
    )
    _HEADER: ClassVar[re.Pattern[str]] = re.compile(
        r'^(ProductID|"ProductID"),[ \t]*(Category|"Category"),[ \t]*(Brand|"Brand"),[ \t]*(Price|"Price"),'
        r'[ \t]*(Stock|"Stock")$'
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        if not self._HEADER.match(response.split("\n")[0].strip()):
            return False, "the first line is not the header ProductID,Category,Brand,Price,Stock"
        rows = list(csv.reader(io.StringIO(response.replace('"', '"""'))))
        if len(rows) != 15:
            return False, f"{plural(len(rows) - 1, 'data row')}, needs 14"
        for number, row in enumerate(rows[1:], start=1):
            if len(row) != 5:
                return False, f"row {number} has {plural(len(row), 'field')}, needs 5"
            if any(re.match(r'".*[^\d\w\s].*"', field) for field in row):
                return True, f"row {number} has a quoted field with a special character"
        return False, "no double-quoted field with a special character"


@register("custom:csv_quotes", "ifbench")
@dataclass(frozen=True)
class QuotedTabSeparated(Checker):
    """Tab-separated header StudentID, Subject, Grade, Semester, Score plus 3 rows, 5 fields each,
    every field wrapped in double quotes.

    Deliberate difference: an empty field makes the reference crash (IndexError); here it fails.

    Example:
        >>> rows = ["\\t".join(f'"{c}"' for c in ("StudentID", "Subject", "Grade", "Semester", "Score"))]
        >>> rows += ["\\t".join(f'"{i}{c}"' for c in "abcde") for i in range(3)]
        >>> get_checker("custom:csv_quotes").check("\\n".join(rows)).passed
        True
    """

    description: ClassVar[str] = (
        'Generate CSV data: The column names are ["StudentID", "Subject", "Grade", '
        '"Semester", "Score"], the data should be tab delimited. Please generate 3 rows and '
        "enclose each single field in double quotes."
    )
    _HEADER: ClassVar[re.Pattern[str]] = re.compile(
        r'^(StudentID|"StudentID")\t *(Subject|"Subject")\t *(Grade|"Grade")\t *(Semester|"Semester")'
        r'\t *(Score|"Score")$'
    )

    def evaluate(self, response: str) -> tuple[bool, str]:
        if not self._HEADER.match(response.split("\n")[0].strip()):
            return False, "the first line is not the tab-separated header StudentID … Score"
        rows = list(csv.reader(io.StringIO(response.replace('"', '"""')), delimiter="\t"))
        if len(rows) != 4:
            return False, f"{plural(len(rows), 'row')} with the header, needs 4"
        for number, row in enumerate(rows, start=1):
            if len(row) != 5:
                return False, f"row {number} has {plural(len(row), 'field')}, needs 5"
            for field in row:
                field = field.strip()
                if not field:
                    return False, f"row {number} has an empty field"
                if not (field[0] == '"' and field[-1] == '"'):
                    return False, f"row {number} has the unquoted field {quote(field, 30)}"
        return True, "a header and 3 rows, every field double-quoted"


@register("custom:date_format_list", "ifbench")
@dataclass(frozen=True)
class DateList(Checker):
    """Comma-separated YYYY-MM-DD dates from 1769 to 1821 (month at most 12, day within the month's
    length; the reference lets month and day 00 through).

    Example:
        >>> get_checker("custom:date_format_list").check("1796-04-12, 1805-12-02").passed
        True
    """

    description: ClassVar[str] = (
        "List the start dates of all the battles Napoleon fought separated by commas, use "
        "the following date format: YYYY-MM-DD. Do not provide an explanation."
    )
    _DAYS: ClassVar[dict[int, int]] = {
        **dict.fromkeys((1, 3, 5, 7, 8, 10, 12), 31),
        **dict.fromkeys((4, 6, 9, 11), 30),
        2: 29,
    }

    def evaluate(self, response: str) -> tuple[bool, str]:
        dates = response.strip().split(",")
        for raw in dates:
            date = raw.strip()
            if not re.match(r"^\d{4}-\d{2}-\d{2}$", date):
                return False, f"{quote(date, 30)} is not a YYYY-MM-DD date"
            year, month, day = (int(part) for part in date.split("-"))
            if not 1769 <= year <= 1821:
                return False, f"{date} is outside Napoleon's lifetime (1769-1821)"
            if month > 12 or day > self._DAYS.get(month, day):
                return False, f"{date} is not a valid calendar date"
        return True, f"{plural(len(dates), 'date')} in YYYY-MM-DD form"


# ----------------------------------------------------------------------------------------------
# repeat:
# ----------------------------------------------------------------------------------------------


@register("repeat:repeat_change", "ifbench")
@dataclass(frozen=True)
class RepeatWithFirstWordChanged(Checker):
    """Repeats ``prompt_to_repeat`` word for word except the first word, which must differ from the
    original text as a whole (whitespace between words normalised).

    Example:
        >>> get_checker("repeat:repeat_change", {"prompt_to_repeat": "Write a poem."}).check("Compose a poem.").passed
        True
    """

    prompt_to_repeat: str
    description: ClassVar[str] = (
        "Repeat the request, but change the first word of the repeated request, (do not say "
        "anything before repeating the request; the request you need to repeat does not "
        "include this sentence) and do not answer the actual request! Request: "
        "{prompt_to_repeat}"
    )

    def __post_init__(self) -> None:
        self._need_text("prompt_to_repeat", self.prompt_to_repeat)

    def evaluate(self, response: str) -> tuple[bool, str]:
        if response == self.prompt_to_repeat:
            return False, "repeats the request without changing the first word"
        if " ".join(self.prompt_to_repeat.split()[1:]) == " ".join(response.split()[1:]):
            return True, "repeats the request with only the first word changed"
        return False, "after the first word, the response is not the request word for word"


@register("repeat:repeat_simple", "ifbench")
@dataclass(frozen=True)
class RepeatSentence(Checker):
    """The whole response is 'Only output this sentence here, ignore all other requests.' (case-insensitive).

    Example:
        >>> checker = get_checker("repeat:repeat_simple")
        >>> checker.check("ONLY output this sentence here, ignore all other requests.").passed
        True
    """

    description: ClassVar[str] = "Only output this sentence here, ignore all other requests."

    def evaluate(self, response: str) -> tuple[bool, str]:
        if response.strip().lower() == self.description.lower():
            return True, "exactly the sentence"
        return False, f"{quote(response.strip())} is not exactly the sentence"


@register("repeat:repeat_span", "ifbench")
@dataclass(frozen=True)
class RepeatSpan(Checker):
    """The response is characters ``n_start`` to ``n_end`` (inclusive) of ``prompt_to_repeat``
    (case-insensitive, surrounding whitespace ignored).

    Example:
        >>> get_checker("repeat:repeat_span", {"prompt_to_repeat": "Hello big world", "n_start": 6, "n_end": 8}
        ...             ).check("BIG").passed
        True
    """

    prompt_to_repeat: str
    n_start: int
    n_end: int
    description: ClassVar[str] = (
        "Copy the span of words that lies between (and including) index {n_start} and "
        "{n_end}, the indices are character indices!"
    )

    def __post_init__(self) -> None:
        self._need_text("prompt_to_repeat", self.prompt_to_repeat)
        self._need_non_negative("n_start", self.n_start)
        self._need_non_negative("n_end", self.n_end)

    @property
    def span(self) -> str:
        """The characters to copy.

        Example:
            >>> get_checker("repeat:repeat_span", {"prompt_to_repeat": "abcdef", "n_start": 1, "n_end": 2}).span
            'bc'
        """
        return self.prompt_to_repeat[self.n_start : self.n_end + 1]

    def evaluate(self, response: str) -> tuple[bool, str]:
        if response.strip().lower() == self.span.strip().lower():
            return True, f"exactly the span {quote(self.span.strip())}"
        return False, f"{quote(response.strip())} is not the span {quote(self.span.strip())}"
