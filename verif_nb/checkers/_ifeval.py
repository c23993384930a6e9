"""The 25 IFEval instruction checkers: one small frozen dataclass per instruction id.

Each checker's fields are its typed kwargs; ``evaluate(response)`` is a pure function returning
``(followed, reason)`` and ``check(response)`` wraps that in a :class:`~verif_nb.records.Verdict`.
Semantics follow the reference implementation (google-research ``instruction_following_eval``, as
packaged by lm-eval) exactly, including its quirks: keywords are regular expressions, an empty
response never follows anything, and a response whose language cannot be detected counts as
following the language and case checks.

Example:
    >>> from verif_nb.checkers import get_checker
    >>> v = get_checker("length_constraints:number_words",
    ...                 {"relation": "at least", "num_words": 300}).check("too short")
    >>> (v.passed, v.reason)
    (False, '2 words, needs at least 300')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from verif_nb.checkers._base import Checker, register
from verif_nb.checkers._registry import get_checker  # noqa: F401  (the examples build checkers by id)
from verif_nb.checkers.text import (
    LanguageUndetectable,
    compare,
    count_sentences,
    count_words,
    detect_language,
    plural,
    quote,
    word_tokenize,
)

# The languages the reference accepts for language:response_language (it fails on other codes).
LANGUAGE_CODES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "ar": "Arabic",
    "hi": "Hindi",
    "fr": "French",
    "ru": "Russian",
    "de": "German",
    "ja": "Japanese",
    "it": "Italian",
    "bn": "Bengali",
    "uk": "Ukrainian",
    "th": "Thai",
    "ur": "Urdu",
    "ta": "Tamil",
    "te": "Telugu",
    "bg": "Bulgarian",
    "ko": "Korean",
    "pl": "Polish",
    "he": "Hebrew",
    "fa": "Persian",
    "vi": "Vietnamese",
    "ne": "Nepali",
    "sw": "Swahili",
    "kn": "Kannada",
    "mr": "Marathi",
    "gu": "Gujarati",
    "pa": "Punjabi",
    "ml": "Malayalam",
    "fi": "Finnish",
}

CONSTRAINED_RESPONSE_OPTIONS: tuple[str, ...] = (
    "My answer is yes.",
    "My answer is no.",
    "My answer is maybe.",
)


# ----------------------------------------------------------------------------------------------
# keywords:
# ----------------------------------------------------------------------------------------------


@register("keywords:existence", "ifeval")
@dataclass(frozen=True)
class KeywordsExistence(Checker):
    """Every keyword (a case-insensitive regex, as in the reference) occurs in the response.

    Example:
        >>> get_checker("keywords:existence", {"keywords": ["fox", "dog"]}).check("A fox.").reason
        "missing keyword(s): 'dog'"
    """

    keywords: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "keywords", tuple(sorted(self.keywords)))
        for kw in self.keywords:
            self._need_regex("keyword", kw)

    def describe(self) -> str:
        return "The response must include the keywords: " + ", ".join(map(repr, self.keywords)) + "."

    def evaluate(self, response: str) -> tuple[bool, str]:
        missing = [k for k in self.keywords if not re.search(k, response, flags=re.IGNORECASE)]
        if missing:
            return False, "missing keyword(s): " + ", ".join(map(repr, missing))
        return True, "contains every keyword: " + ", ".join(map(repr, self.keywords))


@register("keywords:frequency", "ifeval")
@dataclass(frozen=True)
class KeywordFrequency(Checker):
    """The keyword (case-insensitive regex) occurs ``less than`` / ``at least`` ``frequency`` times.

    Example:
        >>> get_checker("keywords:frequency",
        ...             {"keyword": "war", "frequency": 2, "relation": "at least"}).check("War!").reason
        "'war' appears 1 time, needs at least 2"
    """

    keyword: str
    frequency: int
    relation: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyword", self.keyword.strip())
        self._need_regex("keyword", self.keyword)
        self._need_non_negative("frequency", self.frequency)
        self._need_relation("relation", self.relation)

    def describe(self) -> str:
        return f"The word {self.keyword!r} must appear {self.relation} {self.frequency} times."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len(re.findall(self.keyword, response, flags=re.IGNORECASE))
        return (
            compare(n, self.relation, self.frequency),
            f"{self.keyword!r} appears {plural(n, 'time')}, needs {self.relation} {self.frequency}",
        )


@register("keywords:forbidden_words", "ifeval")
@dataclass(frozen=True)
class ForbiddenWords(Checker):
    """None of the words occurs as a whole word (case-insensitive).

    Example:
        >>> get_checker("keywords:forbidden_words", {"forbidden_words": ["bad"]}).check("Not bad").passed
        False
    """

    forbidden_words: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "forbidden_words", tuple(sorted(set(self.forbidden_words))))
        for word in self.forbidden_words:
            self._need_regex("forbidden word", rf"\b{word}\b")

    def describe(self) -> str:
        return "The response must not contain any of these words: " + ", ".join(map(repr, self.forbidden_words)) + "."

    def evaluate(self, response: str) -> tuple[bool, str]:
        used = [w for w in self.forbidden_words if re.search(rf"\b{w}\b", response, flags=re.IGNORECASE)]
        if used:
            return False, "uses forbidden word(s): " + ", ".join(map(repr, used))
        return True, "uses none of the forbidden words"


@register("keywords:letter_frequency", "ifeval")
@dataclass(frozen=True)
class LetterFrequency(Checker):
    """The letter (case-insensitive) occurs ``less than`` / ``at least`` ``let_frequency`` times.

    Deliberate difference from the reference: for a character outside a-z (IFEval asks for '#' and
    '!') the reference checks a randomly drawn letter; we count the character itself.

    Example:
        >>> get_checker("keywords:letter_frequency",
        ...             {"letter": "z", "let_frequency": 2, "let_relation": "less than"}).check("Zzz").reason
        "letter 'z' appears 3 times, needs less than 2"
    """

    letter: str
    let_frequency: int
    let_relation: str

    def __post_init__(self) -> None:
        if len(self.letter) != 1 or self.letter.isspace():
            raise self._fail(f"letter must be a single character, not {self.letter!r}")
        # For anything but a-z the reference draws a random letter instead (IFEval's own data has
        # '#' and '!'), which makes its verdict a coin toss; we count the character asked for.
        object.__setattr__(self, "letter", self.letter.lower())
        self._need_non_negative("let_frequency", self.let_frequency)
        self._need_relation("let_relation", self.let_relation)

    def describe(self) -> str:
        return f"The letter {self.letter!r} must appear {self.let_relation} {self.let_frequency} times."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = response.lower().count(self.letter)
        return (
            compare(n, self.let_relation, self.let_frequency),
            f"letter {self.letter!r} appears {plural(n, 'time')}, needs {self.let_relation} {self.let_frequency}",
        )


# ----------------------------------------------------------------------------------------------
# language:
# ----------------------------------------------------------------------------------------------


@register("language:response_language", "ifeval")
@dataclass(frozen=True)
class ResponseLanguage(Checker):
    """langdetect (seed 0) finds the response in ``language`` (ISO 639-1 code).

    As in the reference, a response langdetect cannot read (no letters) counts as followed.

    Example:
        >>> get_checker("language:response_language", {"language": "en"}).check(
        ...     "The weather today is sunny and warm across the whole region.").passed
        True
    """

    language: str

    def __post_init__(self) -> None:
        if self.language not in LANGUAGE_CODES:
            raise self._fail(
                f"language must be one of the reference's codes {sorted(LANGUAGE_CODES)}, not {self.language!r}"
            )

    def describe(self) -> str:
        return f"The entire response must be written in {LANGUAGE_CODES[self.language]}, and no other language."

    def evaluate(self, response: str) -> tuple[bool, str]:
        try:
            found = detect_language(response)
        except LanguageUndetectable as err:
            return True, f"language could not be detected ({err}); the reference counts that as followed"
        name = LANGUAGE_CODES[self.language]
        if found == self.language:
            return True, f"written in {name} ({found})"
        return False, f"detected language {found!r}, needs {name} ({self.language!r})"


# ----------------------------------------------------------------------------------------------
# length_constraints:
# ----------------------------------------------------------------------------------------------


@register("length_constraints:number_sentences", "ifeval")
@dataclass(frozen=True)
class NumberSentences(Checker):
    """English Punkt sentence count is ``less than`` / ``at least`` ``num_sentences``.

    Example:
        >>> get_checker("length_constraints:number_sentences",
        ...             {"num_sentences": 3, "relation": "less than"}).check("One. Two.").reason
        '2 sentences, needs less than 3'
    """

    num_sentences: int
    relation: str

    def __post_init__(self) -> None:
        self._need_non_negative("num_sentences", self.num_sentences)
        self._need_relation("relation", self.relation)

    def describe(self) -> str:
        return f"The response must contain {self.relation} {self.num_sentences} sentences."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = count_sentences(response)
        return (
            compare(n, self.relation, self.num_sentences),
            f"{plural(n, 'sentence')}, needs {self.relation} {self.num_sentences}",
        )


@register("length_constraints:number_paragraphs", "ifeval")
@dataclass(frozen=True)
class NumberParagraphs(Checker):
    """Exactly ``num_paragraphs`` paragraphs separated by the markdown divider ``***``.

    Example:
        >>> get_checker("length_constraints:number_paragraphs",
        ...             {"num_paragraphs": 2}).check("One\\n***\\nTwo").passed
        True
    """

    num_paragraphs: int

    def __post_init__(self) -> None:
        self._need_non_negative("num_paragraphs", self.num_paragraphs)

    def describe(self) -> str:
        return (
            f"The response must have exactly {self.num_paragraphs} paragraphs, separated by the markdown divider ***."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        parts = re.split(r"\s?\*\*\*\s?", response)
        n = len(parts)
        for index, part in enumerate(parts):
            if not part.strip():
                if index in (0, len(parts) - 1):
                    n -= 1  # a divider at the very start or end does not open a paragraph
                else:
                    return False, f"paragraph {index + 1} between two *** dividers is empty"
        return (
            n == self.num_paragraphs,
            f"{plural(n, 'paragraph')} separated by ***, needs exactly {self.num_paragraphs}",
        )


@register("length_constraints:number_words", "ifeval")
@dataclass(frozen=True)
class NumberWords(Checker):
    """Word count (``\\w+`` runs) is ``less than`` / ``at least`` ``num_words``.

    Example:
        >>> get_checker("length_constraints:number_words",
        ...             {"num_words": 2, "relation": "less than"}).check("just three words").reason
        '3 words, needs less than 2'
    """

    num_words: int
    relation: str

    def __post_init__(self) -> None:
        self._need_non_negative("num_words", self.num_words)
        self._need_relation("relation", self.relation)

    def describe(self) -> str:
        return f"The response must contain {self.relation} {self.num_words} words."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = count_words(response)
        return (
            compare(n, self.relation, self.num_words),
            f"{plural(n, 'word')}, needs {self.relation} {self.num_words}",
        )


@register("length_constraints:nth_paragraph_first_word", "ifeval")
@dataclass(frozen=True)
class NthParagraphFirstWord(Checker):
    """Exactly ``num_paragraphs`` paragraphs split by blank lines; paragraph ``nth_paragraph``
    starts with ``first_word`` (case-insensitive, trailing punctuation ignored).

    Example:
        >>> c = get_checker("length_constraints:nth_paragraph_first_word",
        ...                 {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"})
        >>> c.check("First.\\n\\nThen, more.").passed
        True
    """

    num_paragraphs: int
    nth_paragraph: int
    first_word: str

    def __post_init__(self) -> None:
        self._need_non_negative("num_paragraphs", self.num_paragraphs)
        if not 1 <= self.nth_paragraph <= self.num_paragraphs:
            raise self._fail(
                f"nth_paragraph must be between 1 and num_paragraphs ({self.num_paragraphs}), not {self.nth_paragraph}"
            )
        object.__setattr__(self, "first_word", self.first_word.lower())

    def describe(self) -> str:
        return (
            f"The response must have exactly {self.num_paragraphs} paragraphs separated by blank lines, "
            f"and paragraph {self.nth_paragraph} must start with the word {self.first_word!r}."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        paragraphs = response.split("\n\n")
        n = sum(1 for p in paragraphs if p.strip())
        if self.nth_paragraph > n:
            return False, f"{plural(n, 'paragraph')}, so there is no paragraph {self.nth_paragraph}"
        # The reference indexes the raw split, empty pieces included.
        paragraph = paragraphs[self.nth_paragraph - 1].strip()
        if not paragraph:
            return False, f"paragraph {self.nth_paragraph} is empty"
        word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
        first = ""
        for ch in word:
            if ch in ".,?!'\"":
                break
            first += ch.lower()
        problems = []
        if n != self.num_paragraphs:
            problems.append(f"{plural(n, 'paragraph')}, needs exactly {self.num_paragraphs}")
        if first != self.first_word:
            problems.append(f"paragraph {self.nth_paragraph} starts with {first!r}, needs {self.first_word!r}")
        if problems:
            return False, "; ".join(problems)
        return True, (f"{plural(n, 'paragraph')}, paragraph {self.nth_paragraph} starts with {self.first_word!r}")


# ----------------------------------------------------------------------------------------------
# detectable_content:
# ----------------------------------------------------------------------------------------------


@register("detectable_content:number_placeholders", "ifeval")
@dataclass(frozen=True)
class NumberPlaceholders(Checker):
    """At least ``num_placeholders`` square-bracket placeholders such as ``[address]``.

    Example:
        >>> get_checker("detectable_content:number_placeholders",
        ...             {"num_placeholders": 2}).check("Hi [name]").reason
        '1 [placeholder], needs at least 2'
    """

    num_placeholders: int

    def __post_init__(self) -> None:
        self._need_non_negative("num_placeholders", self.num_placeholders)

    def describe(self) -> str:
        return (
            f"The response must contain at least {self.num_placeholders} placeholders in square brackets, "
            "such as [address]."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len(re.findall(r"\[.*?\]", response))
        return (n >= self.num_placeholders, f"{plural(n, '[placeholder]')}, needs at least {self.num_placeholders}")


@register("detectable_content:postscript", "ifeval")
@dataclass(frozen=True)
class Postscript(Checker):
    """A line starting with the postscript marker (``P.S.``, ``P.P.S`` or a custom one).

    Example:
        >>> get_checker("detectable_content:postscript",
        ...             {"postscript_marker": "P.S."}).check("Bye.\\np.s. see you").passed
        True
    """

    postscript_marker: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "postscript_marker", self.postscript_marker.strip())
        self._need_regex("postscript_marker", self._pattern)

    @property
    def _pattern(self) -> str:
        if self.postscript_marker == "P.P.S":
            return r"\s*p\.\s?p\.\s?s.*$"
        if self.postscript_marker == "P.S.":
            return r"\s*p\.\s?s\..*$"
        return r"\s*" + self.postscript_marker.lower() + r".*$"

    def describe(self) -> str:
        return f"The response must end with a postscript starting with {self.postscript_marker}."

    def evaluate(self, response: str) -> tuple[bool, str]:
        found = re.search(self._pattern, response.lower(), flags=re.MULTILINE)
        if found:
            return True, f"has a postscript starting with {self.postscript_marker!r}"
        return False, f"no postscript starting with {self.postscript_marker!r}"


# ----------------------------------------------------------------------------------------------
# detectable_format:
# ----------------------------------------------------------------------------------------------


@register("detectable_format:number_bullet_lists", "ifeval")
@dataclass(frozen=True)
class NumberBulletLists(Checker):
    """Exactly ``num_bullets`` markdown bullet lines (``* item`` or ``- item``).

    Example:
        >>> get_checker("detectable_format:number_bullet_lists",
        ...             {"num_bullets": 2}).check("* a\\n* b\\n- c").reason
        '3 bullet points, needs exactly 2'
    """

    num_bullets: int

    def __post_init__(self) -> None:
        self._need_non_negative("num_bullets", self.num_bullets)

    def describe(self) -> str:
        return (
            f"The response must contain exactly {self.num_bullets} markdown bullet points (lines starting with * or -)."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len(re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)) + len(
            re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
        )
        return n == self.num_bullets, f"{plural(n, 'bullet point')}, needs exactly {self.num_bullets}"


@register("detectable_format:constrained_response", "ifeval")
@dataclass(frozen=True)
class ConstrainedResponse(Checker):
    """Contains one of "My answer is yes.", "My answer is no.", "My answer is maybe.".

    Example:
        >>> get_checker("detectable_format:constrained_response").check("My answer is no.").passed
        True
    """

    def describe(self) -> str:
        return "The response must be exactly one of: " + ", ".join(map(repr, CONSTRAINED_RESPONSE_OPTIONS)) + "."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = response.strip()
        for option in CONSTRAINED_RESPONSE_OPTIONS:
            if option in text:
                return True, f"contains {option!r}"
        return False, "contains none of " + ", ".join(map(repr, CONSTRAINED_RESPONSE_OPTIONS))


@register("detectable_format:number_highlighted_sections", "ifeval")
@dataclass(frozen=True)
class NumberHighlightedSections(Checker):
    """At least ``num_highlights`` markdown highlights (``*text*``; ``**text**`` counts too).

    Example:
        >>> get_checker("detectable_format:number_highlighted_sections",
        ...             {"num_highlights": 2}).check("*one* and *two*").passed
        True
    """

    num_highlights: int

    def __post_init__(self) -> None:
        self._need_non_negative("num_highlights", self.num_highlights)

    def describe(self) -> str:
        return (
            f"The response must highlight at least {self.num_highlights} sections with markdown, "
            "like *highlighted section*."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        # Two passes, as in the reference: single-star spans (in **bold** the single-star pass
        # only sees the empty "**" pairs, which do not count), then double-star spans.
        n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip())
        n += sum(
            1 for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h.removeprefix("**").removesuffix("**").strip()
        )
        return (n >= self.num_highlights, f"{plural(n, 'highlighted section')}, needs at least {self.num_highlights}")


@register("detectable_format:multiple_sections", "ifeval")
@dataclass(frozen=True)
class MultipleSections(Checker):
    """At least ``num_sections`` sections, each opened by ``<section_spliter> <number>``.

    Example:
        >>> get_checker("detectable_format:multiple_sections",
        ...             {"section_spliter": "SECTION", "num_sections": 2}).check("SECTION 1\\na\\nSECTION 2\\nb").passed
        True
    """

    section_spliter: str
    num_sections: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "section_spliter", self.section_spliter.strip())
        self._need_regex("section_spliter", self.section_spliter)
        self._need_non_negative("num_sections", self.num_sections)

    def describe(self) -> str:
        return (
            f"The response must have at least {self.num_sections} sections, "
            f"each starting with '{self.section_spliter} X'."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = len(re.split(r"\s?" + self.section_spliter + r"\s?\d+\s?", response)) - 1
        return (
            n >= self.num_sections,
            f"{plural(n, 'section')} marked '{self.section_spliter} N', needs at least {self.num_sections}",
        )


@register("detectable_format:json_format", "ifeval")
@dataclass(frozen=True)
class JsonFormat(Checker):
    """The whole response is JSON (optionally inside a ``` / ```json code fence).

    Example:
        >>> get_checker("detectable_format:json_format").check('```json\\n{"a": 1}\\n```').passed
        True
    """

    def describe(self) -> str:
        return "The entire response must be valid JSON (it may be wrapped in a markdown code block)."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = response.strip()
        for fence in ("```json", "```Json", "```JSON", "```"):
            text = text.removeprefix(fence)
        text = text.removesuffix("```").strip()
        try:
            json.loads(text)
        except ValueError as err:
            return False, f"not valid JSON ({err})"
        return True, "the whole response parses as JSON"


@register("detectable_format:title", "ifeval")
@dataclass(frozen=True)
class Title(Checker):
    """Has a title in double angular brackets, such as ``<<poem of joy>>``.

    Example:
        >>> get_checker("detectable_format:title").check("<<Joy>>\\nA poem").reason
        "has a title: '<<Joy>>'"
    """

    def describe(self) -> str:
        return "The response must include a title wrapped in double angular brackets, like <<title>>."

    def evaluate(self, response: str) -> tuple[bool, str]:
        for title in re.findall(r"<<[^\n]+>>", response):
            if title.lstrip("<").rstrip(">").strip():
                return True, f"has a title: {quote(title)}"
        return False, "no non-empty title in <<double angular brackets>>"


# ----------------------------------------------------------------------------------------------
# combination:
# ----------------------------------------------------------------------------------------------


@register("combination:two_responses", "ifeval")
@dataclass(frozen=True)
class TwoResponses(Checker):
    """Two different responses separated by six asterisks ``******``.

    Example:
        >>> get_checker("combination:two_responses").check("Yes.\\n******\\nNo.").passed
        True
    """

    def describe(self) -> str:
        return "The response must give two different responses separated by exactly six asterisks (******)."

    def evaluate(self, response: str) -> tuple[bool, str]:
        parts = response.split("******")
        valid = []
        for index, part in enumerate(parts):
            if part.strip():
                valid.append(part)
            elif index not in (0, len(parts) - 1):
                return False, f"response {index + 1} between two ****** dividers is empty"
        if len(valid) != 2:
            return False, f"{plural(len(valid), 'response')} separated by ******, needs exactly 2"
        if valid[0].strip() == valid[1].strip():
            return False, "the two responses are identical"
        return True, "two different responses separated by ******"


@register("combination:repeat_prompt", "ifeval")
@dataclass(frozen=True)
class RepeatPrompt(Checker):
    """Starts by repeating ``prompt_to_repeat`` word for word (case-insensitive).

    ``prompt_to_repeat`` comes from the kwargs, as in the reference (the request without the
    repeat instruction itself); :func:`check_constraint` fills it from ``prompt`` only if absent.

    Example:
        >>> get_checker("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}).check(
        ...     "Say hi. Hi!").passed
        True
    """

    prompt_to_repeat: str

    def describe(self) -> str:
        return (
            f"The response must first repeat the request word for word without change "
            f"({self.prompt_to_repeat.strip()!r}), then give the answer."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        wanted = self.prompt_to_repeat.strip().lower()
        if response.strip().lower().startswith(wanted):
            return True, "starts by repeating the request word for word"
        got = response.strip()[: len(self.prompt_to_repeat.strip())]
        return False, (
            f"does not start with the request {quote(self.prompt_to_repeat.strip())}; starts with {quote(got)}"
        )


# ----------------------------------------------------------------------------------------------
# startend:
# ----------------------------------------------------------------------------------------------


@register("startend:end_checker", "ifeval")
@dataclass(frozen=True)
class EndPhrase(Checker):
    """Ends with ``end_phrase`` (case-insensitive; surrounding double quotes ignored).

    Example:
        >>> get_checker("startend:end_checker", {"end_phrase": "Any other questions?"}).check(
        ...     "Done. Any other questions?").passed
        True
    """

    end_phrase: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "end_phrase", self.end_phrase.strip())

    def describe(self) -> str:
        return f"The response must end with the exact phrase {self.end_phrase!r} with no other words after it."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = response.strip().strip('"').lower()
        wanted = self.end_phrase.lower()
        if text.endswith(wanted):
            return True, f"ends with {self.end_phrase!r}"
        tail = response.strip().strip('"')[-max(len(wanted), 20) :]
        return False, f"ends with {quote(tail)}, needs {self.end_phrase!r}"


@register("startend:quotation", "ifeval")
@dataclass(frozen=True)
class Quotation(Checker):
    """The whole response is wrapped in double quotation marks.

    Example:
        >>> get_checker("startend:quotation").check("no quotes").passed
        False
    """

    def describe(self) -> str:
        return "The entire response must be wrapped in double quotation marks."

    def evaluate(self, response: str) -> tuple[bool, str]:
        text = response.strip()
        if len(text) > 1 and text[0] == '"' and text[-1] == '"':
            return True, "wrapped in double quotation marks"
        return False, (f"not wrapped in double quotation marks (starts with {text[:1]!r}, ends with {text[-1:]!r})")


# ----------------------------------------------------------------------------------------------
# change_case:
# ----------------------------------------------------------------------------------------------


@register("change_case:capital_word_frequency", "ifeval")
@dataclass(frozen=True)
class CapitalWordFrequency(Checker):
    """The number of all-capital words (treebank tokens) is ``less than`` / ``at least``
    ``capital_frequency``.

    Example:
        >>> get_checker("change_case:capital_word_frequency",
        ...             {"capital_frequency": 2, "capital_relation": "at least"}).check("VERY GOOD").reason
        '2 all-capital words, needs at least 2'
    """

    capital_frequency: int
    capital_relation: str

    def __post_init__(self) -> None:
        self._need_non_negative("capital_frequency", self.capital_frequency)
        self._need_relation("capital_relation", self.capital_relation)

    def describe(self) -> str:
        return (
            f"Words written entirely in capital letters must appear {self.capital_relation} "
            f"{self.capital_frequency} times."
        )

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = sum(1 for tok in word_tokenize(response) if tok.isupper())
        return (
            compare(n, self.capital_relation, self.capital_frequency),
            f"{plural(n, 'all-capital word')}, needs {self.capital_relation} {self.capital_frequency}",
        )


def _english_in_case(response: str, in_case: bool, case: str) -> tuple[bool, str]:
    if not in_case:
        return False, f"not entirely in {case} letters"
    try:
        found = detect_language(response)
    except LanguageUndetectable as err:
        return True, (
            f"in {case} letters; language could not be detected ({err}), which the reference counts as followed"
        )
    if found != "en":
        return False, f"in {case} letters but detected language is {found!r}, not English"
    return True, f"English, in {case} letters"


@register("change_case:english_capital", "ifeval")
@dataclass(frozen=True)
class EnglishCapital(Checker):
    """English and entirely in capital letters.

    Example:
        >>> get_checker("change_case:english_capital").check("Hello there").reason
        'not entirely in capital letters'
    """

    def describe(self) -> str:
        return "The entire response must be in English and in capital letters only."

    def evaluate(self, response: str) -> tuple[bool, str]:
        return _english_in_case(response, response.isupper(), "capital")


@register("change_case:english_lowercase", "ifeval")
@dataclass(frozen=True)
class EnglishLowercase(Checker):
    """English and entirely in lowercase letters.

    Example:
        >>> get_checker("change_case:english_lowercase").check("Hello there").passed
        False
    """

    def describe(self) -> str:
        return "The entire response must be in English and in lowercase letters only, with no capital letters."

    def evaluate(self, response: str) -> tuple[bool, str]:
        return _english_in_case(response, response.islower(), "lowercase")


# ----------------------------------------------------------------------------------------------
# punctuation:
# ----------------------------------------------------------------------------------------------


@register("punctuation:no_comma", "ifeval")
@dataclass(frozen=True)
class NoComma(Checker):
    """No commas anywhere.

    Example:
        >>> get_checker("punctuation:no_comma").check("a, b, c").reason
        'contains 2 commas'
    """

    def describe(self) -> str:
        return "The response must not contain any commas."

    def evaluate(self, response: str) -> tuple[bool, str]:
        n = response.count(",")
        return (n == 0, "no commas" if n == 0 else f"contains {plural(n, 'comma')}")


# ----------------------------------------------------------------------------------------------
# Registry API
# ----------------------------------------------------------------------------------------------
