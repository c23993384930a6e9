"""Built-in IFEval checkers: one table of (id, kwargs, response, expected, reason substring) per
checker, the registry / kwargs rules, loose variants and the text helpers."""

from __future__ import annotations

import pytest

from verif_nb.checkers import (
    IFEVAL_IDS,
    LANGUAGE_CODES,
    LOOSE_VARIANT_NAMES,
    accepted_kwargs,
    check_constraint,
    describe,
    get_checker,
    loose_variants,
)
from verif_nb.checkers.text import count_sentences, count_words, word_tokenize
from verif_nb.errors import CheckerError

AT_LEAST, LESS = "at least", "less than"

# (checker id, kwargs, response, expected, substring of the reason)
CASES = [
    # keywords:
    ("keywords:existence", {"keywords": ["fox", "dog"]}, "The quick FOX jumps over the Dog.", True, "every keyword"),
    ("keywords:existence", {"keywords": ["fox", "dog"]}, "The quick fox.", False, "missing keyword(s): 'dog'"),
    ("keywords:existence", {"keywords": ["dog"]}, "hotdogs", True, "'dog'"),  # a regex search, not a word match
    (
        "keywords:frequency",
        {"keyword": "war", "frequency": 3, "relation": AT_LEAST},
        "war, war, WAR",
        True,
        "'war' appears 3 times, needs at least 3",
    ),
    (
        "keywords:frequency",
        {"keyword": "war", "frequency": 3, "relation": AT_LEAST},
        "war and peace",
        False,
        "appears 1 time, needs at least 3",
    ),
    (
        "keywords:frequency",
        {"keyword": " war ", "frequency": 2, "relation": LESS},
        "warfare, war",
        False,
        "'war' appears 2 times, needs less than 2",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["bad", "evil"]}, "A good day.", True, "none of the forbidden"),
    (
        "keywords:forbidden_words",
        {"forbidden_words": ["bad", "evil"]},
        "Not BAD at all.",
        False,
        "forbidden word(s): 'bad'",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "badminton", True, "none"),  # whole words only
    (
        "keywords:letter_frequency",
        {"letter": "a", "let_frequency": 3, "let_relation": AT_LEAST},
        "A banana",
        True,
        "letter 'a' appears 4 times, needs at least 3",
    ),
    (
        "keywords:letter_frequency",
        {"letter": "Z", "let_frequency": 2, "let_relation": LESS},
        "zigzag",
        False,
        "letter 'z' appears 2 times, needs less than 2",
    ),
    (
        "keywords:letter_frequency",
        {"letter": "#", "let_frequency": 2, "let_relation": AT_LEAST},
        "#one #two",
        True,
        "letter '#' appears 2 times",
    ),
    # language:
    (
        "language:response_language",
        {"language": "en"},
        "The committee will publish its annual report on the economy next week.",
        True,
        "written in English",
    ),
    (
        "language:response_language",
        {"language": "en"},
        "Le comité publiera son rapport annuel sur l'économie la semaine prochaine.",
        False,
        "detected language 'fr', needs English",
    ),
    ("language:response_language", {"language": "fr"}, "12345 !!! 678", True, "could not be detected"),
    # length_constraints:
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": LESS},
        "One. Two.",
        True,
        "2 sentences, needs less than 3",
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": AT_LEAST},
        "Dr. Smith left. He sat.",
        False,
        "2 sentences, needs at least 3",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "One\n***\nTwo",
        True,
        "2 paragraphs separated by ***",
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "***\nOne\n***\nTwo\n***", True, "2 paragraphs"),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 3},
        "One\n***\n***\nTwo",
        False,
        "paragraph 2 between two *** dividers is empty",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 3},
        "One\n\nTwo",
        False,
        "1 paragraph separated by ***, needs exactly 3",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 300, "relation": AT_LEAST},
        "Far too short.",
        False,
        "3 words, needs at least 300",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 5, "relation": LESS},
        "state-of-the-art",
        True,
        "4 words, needs less than 5",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"},
        'First part.\n\n"Then, the rest.',
        True,
        "paragraph 2 starts with 'then'",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First part.\n\nAfter that.",
        False,
        "paragraph 2 starts with 'after', needs 'then'",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 3, "first_word": "end"},
        "One.\n\nTwo.",
        False,
        "2 paragraphs, so there is no paragraph 3",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 1, "first_word": "one"},
        "One.\n\nTwo.",
        False,
        "2 paragraphs, needs exactly 3",
    ),
    # detectable_content:
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Dear [name], at [address].",
        True,
        "2 [placeholder]s, needs at least 2",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Dear [name].",
        False,
        "1 [placeholder], needs at least 2",
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Bye.\n\nP.S. Call me.",
        True,
        "postscript starting with 'P.S.'",
    ),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Bye.\np. p. s later", True, "'P.P.S'"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Bye. PS call me.", False, "no postscript"),
    # detectable_format:
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 3},
        "Intro\n* one\n* two\n- three",
        True,
        "3 bullet points, needs exactly 3",
    ),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "* one\n** bold line\n* two\n* three",
        False,
        "3 bullet points, needs exactly 2",
    ),
    (
        "detectable_format:constrained_response",
        {},
        "I think so. My answer is maybe.",
        True,
        "contains 'My answer is maybe.'",
    ),
    ("detectable_format:constrained_response", {}, "my answer is yes", False, "contains none of"),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and *two*",
        True,
        "2 highlighted sections",
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and **two**",
        True,
        "2 highlighted sections",
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "**Title** only",
        False,
        "1 highlighted section, needs at least 2",
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 1},
        "** ** and *\n*",
        False,
        "0 highlighted sections, needs at least 1",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nIntro\nSECTION 2\nBody",
        True,
        "2 sections marked 'SECTION N'",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": " Section ", "num_sections": 3},
        "Section 1\nIntro\nSection 2\nBody",
        False,
        "2 sections marked 'Section N', needs at least 3",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True, "parses as JSON"),
    ("detectable_format:json_format", {}, 'Here is JSON: {"a": 1}', False, "not valid JSON"),
    ("detectable_format:title", {}, "<<Ode to Joy>>\nLine one.", True, "has a title: '<<Ode to Joy>>'"),
    ("detectable_format:title", {}, "<<  >> no title", False, "no non-empty title"),
    # combination:
    ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.", True, "two different responses"),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False, "identical"),
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False, "response 2 between two ****** dividers"),
    ("combination:two_responses", {}, "Only one answer.", False, "1 response separated by ******, needs exactly 2"),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a haiku about rain."},
        "write a haiku about rain. Drops fall softly.",
        True,
        "repeating the request",
    ),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a haiku about rain."},
        "Sure! Write a haiku about rain.",
        False,
        "does not start with the request",
    ),
    # startend:
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        'Done.\nany other questions?"',
        True,
        "ends with 'Any other questions?'",
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Any other questions? Bye.",
        False,
        "needs 'Any other questions?'",
    ),
    ("startend:quotation", {}, '  "All of it."  ', True, "wrapped in double quotation marks"),
    ("startend:quotation", {}, '"', False, "not wrapped"),
    # change_case:
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 3, "capital_relation": AT_LEAST},
        "We DON'T NEED IT.",
        True,
        "4 all-capital words, needs at least 3",
    ),  # DO, N'T, NEED, IT
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": LESS},
        "AT&T and the U.S. army",
        False,
        "3 all-capital words, needs less than 2",
    ),  # AT, T, U.S.
    (
        "change_case:english_capital",
        {},
        "THIS IS A SHORT ENGLISH SENTENCE ABOUT THE WEATHER TODAY.",
        True,
        "English, in capital letters",
    ),
    ("change_case:english_capital", {}, "THIS IS mostly CAPITALS", False, "not entirely in capital letters"),
    (
        "change_case:english_lowercase",
        {},
        "this is a short english sentence about the weather today.",
        True,
        "English, in lowercase letters",
    ),
    (
        "change_case:english_lowercase",
        {},
        "ceci est une phrase en français sur la météo du jour.",
        False,
        "detected language is 'fr', not English",
    ),
    ("change_case:english_lowercase", {}, "123 ... !!!", False, "not entirely in lowercase"),
    # punctuation:
    ("punctuation:no_comma", {}, "No commas here.", True, "no commas"),
    ("punctuation:no_comma", {}, "One, two, three", False, "contains 2 commas"),
]


@pytest.mark.parametrize(
    ("checker_id", "kwargs", "response", "expected", "reason"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_checker_table(checker_id, kwargs, response, expected, reason):
    verdict = get_checker(checker_id, kwargs).check(response)
    assert verdict.passed is expected, verdict.reason
    assert reason in verdict.reason
    assert (verdict.name, verdict.kind, verdict.error) == (checker_id, "rule", None)


def test_table_covers_every_checker_both_ways():
    assert len(IFEVAL_IDS) == 25 and IFEVAL_IDS == sorted(IFEVAL_IDS)
    for outcome in (True, False):
        assert {c[0] for c in CASES if c[3] is outcome} == set(IFEVAL_IDS), outcome


def test_empty_response_follows_nothing():
    for checker_id in ("punctuation:no_comma", "keywords:forbidden_words", "change_case:english_lowercase"):
        kwargs = {"forbidden_words": ["x"]} if checker_id == "keywords:forbidden_words" else None
        verdict = get_checker(checker_id, kwargs).check("  \n ")
        assert verdict.passed is False and verdict.reason == "the response is empty"


# ------------------------------------------------------------------------------------------------
# kwargs
# ------------------------------------------------------------------------------------------------


def test_none_and_empty_kwargs_are_dropped_like_the_reference():
    # The Hugging Face copy of IFEval pads every row with every kwarg name set to None.
    padded = {"num_highlights": None, "relation": None, "num_words": 5, "keywords": None, "language": None}
    checker = get_checker("length_constraints:number_words", {**padded, "relation": AT_LEAST})
    assert checker.kwargs == {"num_words": 5, "relation": AT_LEAST}
    assert get_checker("detectable_format:title", None).id == "detectable_format:title"
    assert get_checker("detectable_format:title", {"num_words": None, "keywords": []}).id == "detectable_format:title"


@pytest.mark.parametrize(
    ("checker_id", "kwargs", "message"),
    [
        ("no_such:checker", {}, "unknown checker id 'no_such:checker'"),
        ("punctuation:no_comma", {"num_words": 3}, "does not take kwarg(s) ['num_words']; it takes: none"),
        (
            "length_constraints:number_words",
            {"num_words": 3, "relation": AT_LEAST, "language": "en"},
            "does not take kwarg(s) ['language']",
        ),
        ("length_constraints:number_words", {"num_words": "300", "relation": AT_LEAST}, "must be an integer, not str"),
        ("length_constraints:number_words", {"num_words": True, "relation": AT_LEAST}, "must be an integer"),
        ("length_constraints:number_words", {"num_words": 300, "relation": "more than"}, "relation must be one of"),
        ("length_constraints:number_words", {"num_words": -5, "relation": AT_LEAST}, "num_words must be >= 0"),
        ("length_constraints:number_words", {"relation": AT_LEAST}, "needs a non-empty value for ['num_words']"),
        ("length_constraints:number_words", {"num_words": None, "relation": AT_LEAST}, "needs a non-empty value"),
        ("keywords:existence", {"keywords": "fox"}, "must be a list of strings, not str"),
        ("keywords:existence", {"keywords": ["fox", 3]}, "must be a list of strings"),
        ("keywords:existence", {"keywords": ["(unclosed"]}, "not a valid regular expression"),
        ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 2, "let_relation": LESS}, "single character"),
        ("language:response_language", {"language": "xx"}, "language must be one of"),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"},
            "nth_paragraph must be between 1 and num_paragraphs (2), not 3",
        ),
        ("combination:repeat_prompt", None, "needs a non-empty value for ['prompt_to_repeat']"),
        ("punctuation:no_comma", ["not", "a", "dict"], "kwargs must be a dict"),
    ],
)
def test_bad_kwargs_raise_checker_error(checker_id, kwargs, message):
    with pytest.raises(CheckerError) as info:
        get_checker(checker_id, kwargs)
    assert message in str(info.value)


def test_integral_floats_are_accepted_and_kwargs_round_trip():
    checker = get_checker("detectable_format:number_bullet_lists", {"num_bullets": 3.0})
    assert checker.kwargs == {"num_bullets": 3} and isinstance(checker.kwargs["num_bullets"], int)
    with pytest.raises(CheckerError):
        get_checker("detectable_format:number_bullet_lists", {"num_bullets": 2.5})
    kw = get_checker("keywords:forbidden_words", {"forbidden_words": ["b", "a", "b"]}).kwargs
    assert kw == {"forbidden_words": ["a", "b"]}  # de-duplicated and sorted, as the reference does


def test_accepted_kwargs():
    assert accepted_kwargs("keywords:letter_frequency") == {
        "letter": "string",
        "let_frequency": "integer",
        "let_relation": "string",
    }
    assert accepted_kwargs("punctuation:no_comma") == {}
    with pytest.raises(CheckerError):
        accepted_kwargs("nope")


# ------------------------------------------------------------------------------------------------
# check_constraint, loose scoring
# ------------------------------------------------------------------------------------------------


def test_loose_variants_in_reference_order():
    variants = loose_variants("Sure, here it is:\n**Body** text\nHope this helps!")
    assert len(variants) == len(LOOSE_VARIANT_NAMES) == 8
    assert variants == [
        "Sure, here it is:\n**Body** text\nHope this helps!",
        "Sure, here it is:\nBody text\nHope this helps!",
        "**Body** text\nHope this helps!",
        "Sure, here it is:\n**Body** text",
        "**Body** text",
        "Body text\nHope this helps!",
        "Sure, here it is:\nBody text",
        "Body text",
    ]


def test_check_constraint_strict_and_loose():
    response = 'Here you go:\n"All wrapped."'
    strict = check_constraint("startend:quotation", None, response)
    loose = check_constraint("startend:quotation", None, response, loose=True)
    assert strict.passed is False and loose.passed is True
    assert loose.reason == "loose: with first line removed, wrapped in double quotation marks"
    failed = check_constraint("punctuation:no_comma", {}, "a, b\nc, d", loose=True)
    assert failed.passed is False and failed.reason == "contains 2 commas (and no loose variant passes)"
    # asterisks removed: a bold marker no longer hides the end phrase
    assert check_constraint("startend:end_checker", {"end_phrase": "Bye."}, "Text. **Bye.**", loose=True).passed


def test_check_constraint_repeat_prompt_uses_prompt_only_when_kwargs_lack_it():
    prompt = "Write a haiku about rain."
    response = "Write a haiku about rain. Drops on the roof."
    assert check_constraint("combination:repeat_prompt", None, response, prompt=prompt).passed is True
    assert check_constraint("combination:repeat_prompt", {"prompt_to_repeat": None}, response, prompt=prompt).passed
    # kwargs win: the reference repeats the request minus the instruction, not the whole prompt
    verdict = check_constraint(
        "combination:repeat_prompt", {"prompt_to_repeat": "Write a limerick."}, response, prompt=prompt
    )
    assert verdict.passed is False
    with pytest.raises(CheckerError):
        check_constraint("combination:repeat_prompt", None, response)


def test_check_constraint_raises_for_unknown_ids():
    with pytest.raises(CheckerError, match="unknown checker id"):
        check_constraint("keywords:nonexistent", {}, "text")


# ------------------------------------------------------------------------------------------------
# Text helpers
# ------------------------------------------------------------------------------------------------

# Expected token lists are what nltk 3.10.4's word_tokenize (punkt_tab English) returns for each input.
TOKEN_CASES = [
    ("I DON'T like it.", ["I", "DO", "N'T", "like", "it", "."]),
    ("WE CAN'T STOP. Won't we?", ["WE", "CA", "N'T", "STOP", ".", "Wo", "n't", "we", "?"]),
    (
        'She said "no" (twice), didn\'t she?',
        ["She", "said", "``", "no", "''", "(", "twice", ")", ",", "did", "n't", "she", "?"],
    ),
    ("Rock 'n' roll 'round the clock.", ["Rock", "'n", "'", "roll", "'", "round", "the", "clock", "."]),
    (
        "AT&T, IBM; e-mail me @ home #1 for $3,000...",
        ["AT", "&", "T", ",", "IBM", ";", "e-mail", "me", "@", "home", "#", "1", "for", "$", "3,000", "..."],
    ),
    ("I cannot go -- gonna stay.", ["I", "can", "not", "go", "--", "gon", "na", "stay", "."]),
    ("**BOLD** and *it* — done", ["*", "*", "BOLD", "*", "*", "and", "*", "it", "*", "—", "done"]),
    (
        "Mr. Smith went to Washington. He met the U.S. president.",
        ["Mr.", "Smith", "went", "to", "Washington", ".", "He", "met", "the", "U.S.", "president", "."],
    ),
]


@pytest.mark.parametrize(("text", "tokens"), TOKEN_CASES)
def test_word_tokenize_matches_nltk(text, tokens):
    assert word_tokenize(text) == tokens


def test_word_and_sentence_counts():
    assert count_words("Hello, world! It's 2 p.m.") == 7
    assert count_words("") == 0
    assert count_sentences("Dr. Smith went home. He was tired! Was he? yes.") == 4
    assert count_sentences("No terminal punctuation") == 1


def test_language_detection_is_seeded():
    # A text on which langdetect's answer depends on its random seed: ours must not change per call.
    text = "green hills gently gleam\ngossamer mist glistens green\ngently glowing west"
    verdicts = {check_constraint("change_case:english_lowercase", None, text).passed for _ in range(5)}
    assert len(verdicts) == 1


# ---- describe(): each checker states its own constraint for the judge ----------------------------

DESCRIPTIONS = [
    (
        "length_constraints:number_words",
        {"relation": "at least", "num_words": 300},
        "The response must contain at least 300 words.",
    ),
    (
        "keywords:letter_frequency",
        {"letter": "Z", "let_frequency": 2, "let_relation": "less than"},
        "The letter 'z' must appear less than 2 times.",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": " SECTION ", "num_sections": 3},
        "The response must have at least 3 sections, each starting with 'SECTION X'.",
    ),
    ("keywords:existence", {"keywords": ["dog", "cat"]}, "The response must include the keywords: 'cat', 'dog'."),
    ("punctuation:no_comma", None, "The response must not contain any commas."),
]


@pytest.mark.parametrize(("checker_id", "kwargs", "sentence"), DESCRIPTIONS)
def test_describe_states_the_constraint_with_the_checkers_own_normalised_kwargs(checker_id, kwargs, sentence):
    assert get_checker(checker_id, kwargs).describe() == sentence


def test_every_checker_describes_itself_from_its_own_kwargs():
    # One table of (id, kwargs) from the behaviour cases: every id gets a sentence of its own.
    seen = {}
    for checker_id, kwargs, *_ in CASES:
        seen.setdefault(checker_id, get_checker(checker_id, kwargs).describe())
    assert sorted(seen) == IFEVAL_IDS
    assert all(s.startswith(("The ", "Words ")) and s.endswith((".", ")")) for s in seen.values()), seen


@pytest.mark.parametrize("code", sorted(LANGUAGE_CODES))
def test_language_description_names_every_accepted_language(code):
    # The old parallel table lacked he, uk and ml, so the judge was told "written in he".
    sentence = describe("language:response_language", {"language": code})
    assert LANGUAGE_CODES[code] in sentence and f" {code}," not in sentence


def test_describe_checker_fills_prompt_to_repeat_like_check_constraint():
    assert "'Say hi.'" in describe("combination:repeat_prompt", None, prompt="Say hi.")
    with pytest.raises(CheckerError, match="unknown checker id"):
        describe("no:such", None)
