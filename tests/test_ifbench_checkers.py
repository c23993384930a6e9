"""The IFBench checkers on hand-made tables of (id, kwargs, response, expected, reason fragment),
their kwargs validation, descriptions and lazy imports. Runs without the reference code; the
boolean-for-boolean comparison with it is tests/test_ifbench_conformance.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verif_nb.checkers import IFBENCH_IDS, check_constraint, describe, get_checker
from verif_nb.errors import CheckerError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ifbench" / "IFBench_test.jsonl"

CASES = [
    # id, kwargs, response, expected, reason fragment
    ("count:word_count_range", {"min_words": 2, "max_words": 3}, "one two", True, "2 words"),
    ("count:word_count_range", {"min_words": 2, "max_words": 3}, "one two three four", False, "needs between 2 and 3"),
    ("count:unique_word_count", {"N": 3}, "a b c", True, "3 unique words"),
    ("count:unique_word_count", {"N": 3}, "a a, A!", False, "1 unique word"),
    ("count:unique_word_count", {"N": 2}, "word ...", True, "2 unique words"),  # '...' counts as the empty word
    ("ratio:stop_words", {"percentage": 50}, "The cat sat on the mat", True, "50.0%"),
    ("ratio:stop_words", {"percentage": 10}, "!!!", False, "no words"),
    ("ratio:sentence_type", {}, "It is. It was. Why?", True, "2 declarative"),
    ("ratio:sentence_type", {}, "Why? Why?", False, "0 declarative and 2 interrogative"),
    ("ratio:sentence_balance", {}, "Go. Why? Wow!", True, "1 declarative"),
    ("ratio:sentence_balance", {}, "Go. Go. Why? Wow!", False, "2 declarative"),
    ("count:conjunctions", {"small_n": 2}, "and And", True, "2 distinct"),  # spellings, as in the reference
    ("count:conjunctions", {"small_n": 2}, "cats and dogs", False, "1 distinct"),
    ("count:person_names", {"N": 1}, "Emma came.", True, "'Emma'"),
    ("count:person_names", {"N": 1}, "Emmanuel came.", False, "none"),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 100}, "abcd", True, "100.0%"),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 50}, "ab", False, "too short"),
    ("count:numbers", {"N": 2}, "3.14 and 2", True, "2 numbers"),
    ("count:numbers", {"N": 1}, "1 2", False, "2 numbers"),
    ("words:alphabet", {}, "Xylophones yield zany acoustics", True, "follow the alphabet"),
    ("words:alphabet", {}, "Apple cat", False, "should start with 'b'"),
    ("words:alphabet", {}, "9 lives", False, "does not start with a letter"),
    ("words:vowel", {}, "Bad dad sat", True, "1 vowel type"),
    ("words:vowel", {}, "Quiet music is our favorite", False, "needs at most 3"),
    ("words:vowel", {}, "A cat\nA hat", False, "2 lines"),
    ("words:consonants", {}, "Strong winds", True, "every word"),
    ("words:consonants", {}, "Strong wind a", False, "'a' has no consonant cluster"),
    ("sentence:alliteration_increment", {}, "A cat. Big bold bears.", True, "[0, 3]"),
    ("sentence:alliteration_increment", {}, "Big bold. Big bold.", False, "[2, 2]"),
    ("words:palindrome", {}, "level " * 10, True, "10 palindromes"),
    ("words:palindrome", {}, "noon " * 10, False, "0 palindromes"),  # 4 letters is too short
    ("count:punctuation", {}, "Really?! Yes, sir; ok: fine. Go! Why?", True, "interrobang"),
    ("count:punctuation", {}, "Really? Yes, sir; ok: fine. Go!", False, "no interrobang"),
    ("count:punctuation", {}, "a?! b, c; d: e.", False, "never uses ! ?"),  # the first ?! is taken out
    ("format:parentheses", {}, "((((( x )))))", True, "5 levels"),
    ("format:parentheses", {}, "(((( x ))))", False, "deepest open run: 4"),
    ("format:parentheses", {}, "((((( x ]", False, "deepest open run: 0"),  # a mismatch resets
    ("format:quotes", {}, '"a \'b "c" b\' a"', True, "3 levels"),
    ("format:quotes", {}, "\"a 'b' a\"", False, "deepest opening: 2"),
    ("words:prime_lengths", {}, "It is so", True, "prime length"),
    ("words:prime_lengths", {}, "Hope", False, "4 characters"),
    ("format:options", {"options": "yes/no/maybe"}, "Maybe!", True, "'maybe'"),
    ("format:options", {"options": "yes/no/maybe"}, "Yes, surely", False, "not one of"),
    ("format:options", {"options": "a), b), c), d)"}, "b)", True, "exactly the option"),
    ("format:options", {"options": "a), b), c), d)"}, "B)", False, "not exactly one of"),
    ("format:newline", {}, "One\ntwo", True, "2 words"),
    ("format:newline", {}, "One two", False, "1 non-empty line"),
    ("format:emoji", {}, "Tea \N{HOT BEVERAGE}. Moon \N{CRESCENT MOON}", True, "2 sentences"),
    ("format:emoji", {}, "Tea \N{HOT BEVERAGE}. Moon.", False, "last sentence"),
    ("ratio:sentence_words", {}, "Ab. Cd. Ef.", True, "3 characters each"),
    ("ratio:sentence_words", {}, "Ab. Cd. Efg.", False, "differ"),
    ("count:words_japanese", {"N": 2}, "a 犬 b 猫", True, "every 2th"),
    ("count:words_japanese", {"N": 2}, "a dog", False, "word 2 'dog'"),
    ("count:words_japanese", {"N": 1}, "12 34", True, "every 1th"),  # digits are exempt
    ("words:repeats", {"small_n": 2}, "a a b", True, "more than 2"),
    ("words:repeats", {"small_n": 1}, "A a.", False, "'a' occurs 2 times"),
    ("sentence:keyword", {"word": "sky", "N": 2}, "Hi. The sky.", True, "sentence 2 contains"),
    ("sentence:keyword", {"word": "sky", "N": 2}, "The sky. Hi.", False, "lacks"),
    ("sentence:keyword", {"word": "sky", "N": 3}, "The sky. Hi.", False, "2 sentences"),
    ("count:pronouns", {"N": 2}, "he/him", True, "2 pronouns"),
    ("count:pronouns", {"N": 2}, "Cats sleep.", False, "0 pronouns"),
    ("words:odd_even_syllables", {}, "cat apple", True, "alternate"),
    ("words:odd_even_syllables", {}, "cat dog", False, "both have an odd"),
    ("words:last_first", {}, "I like tea. Tea is good.", True, "chain"),
    ("words:last_first", {}, "I like tea. Coffee is good.", False, "ends with 'tea'"),
    ("words:paragraph_last_first", {}, "Go home, go.\n\nSun is sun", True, "ends with the word"),
    ("words:paragraph_last_first", {}, "Go home.", False, "line 1 starts with 'go'"),
    ("sentence:increment", {"small_n": 1}, "A b. C d e.", True, "[2, 3]"),
    ("sentence:increment", {"small_n": 2}, "A b. C d e.", False, "should have 4"),
    ("words:no_consecutive", {}, "Red sky, blue sea", True, "no two"),
    ("words:no_consecutive", {}, "Red rose", False, "both start with 'r'"),
    ("format:line_indent", {}, "a\n  b\n    c", True, "indented more"),
    ("format:line_indent", {}, "a\n  b\n  c", False, "line 3 is indented 2"),
    ("format:line_indent", {}, "a\n\n\n b", False, "line 2 is indented 0"),  # the reference skips one blank line
    ("format:quote_unquote", {}, '"Veni" means I came.', True, "followed by unquoted"),
    ("format:quote_unquote", {}, 'I came, "veni".', False, "ends with a quoted"),
    ("format:quote_unquote", {}, '"a" "b" c', False, "directly follows"),
    ("format:list", {"sep": "SEPARATOR"}, "SEPARATOR a SEPARATOR b", True, "2 times"),
    ("format:list", {"sep": "SEPARATOR"}, "SEPARATOR a", False, "1 time"),
    ("format:thesis", {}, "<em>Claim.</em> Support.", True, "followed by text"),
    ("format:thesis", {}, "<i>Claim.</i>", False, "nothing follows"),
    ("format:thesis", {}, "<i>Claim.", False, "never closed"),
    ("format:sub-bullets", {}, "* a\n - b", True, "1 bullet"),
    ("format:sub-bullets", {}, "no stars at all", True, "0 bullets"),  # vacuously, as in the reference
    ("format:sub-bullets", {}, "* a\n* b\n - c", False, "number 1"),
    ("format:no_bullets_bullets", {}, "One. Two.\n* a\n* b", True, "2 bullets"),
    ("format:no_bullets_bullets", {}, "One. Two.\n* a\n* b\n", False, "line 4"),  # trailing newline breaks it
    ("format:no_bullets_bullets", {}, "One.\n* a\n* b", False, "only 1 sentence"),
    ("custom:multiples", {}, "14, 21, 28, 35, 42, 49", True, "exactly the multiples"),
    ("custom:multiples", {}, "7, 14, 21, 28, 35, 42, 49", False, "needs exactly"),
    ("custom:character_reverse", {}, "ELGAE DLAB", True, "backwards"),
    ("custom:character_reverse", {}, "bald eagle", False, "elgae dlab"),
    ("custom:word_reverse", {}, "eagle bald a", True, "one sentence"),
    ("custom:word_reverse", {}, "bald eagle", False, "does not say"),
    ("custom:sentence_alphabet", {}, " ".join(f"{chr(65 + i)}x." for i in range(26)), True, "26 sentences"),
    ("custom:date_format_list", {}, "1800-02-29", True, "1 date"),
    ("custom:date_format_list", {}, "1800-02-30", False, "not a valid calendar date"),
    ("custom:date_format_list", {}, "1800-00-99", True, "1 date"),  # month 00 is let through, as in the reference
    ("custom:date_format_list", {}, "1768-01-01", False, "outside"),
    (
        "count:keywords_multiple",
        dict(keyword1="a", keyword2="b", keyword3="c", keyword4="d", keyword5="e"),
        "a bb ccc ddddd eeeeeee",
        True,
        "exactly 1, 2, 3, 5 and 7",
    ),
    ("words:keywords_specific_position", {"keyword": "sky", "n": 1, "m": 2}, "The sky, blue.", True, "word 2"),
    ("words:keywords_specific_position", {"keyword": "sky", "n": 1, "m": 2}, "Sky is blue.", False, "not 'sky'"),
    ("words:words_position", {"keyword": "cat"}, "A cat and a cat go", True, "second-to-last"),
    ("words:words_position", {"keyword": "cat"}, "A cat and a cat.", False, "second-to-last is 'a'"),
    ("repeat:repeat_change", {"prompt_to_repeat": "Tell me a joke"}, "Give me a joke", True, "first word changed"),
    ("repeat:repeat_change", {"prompt_to_repeat": "Tell me a joke"}, "Tell me a joke", False, "without changing"),
    ("repeat:repeat_simple", {}, "Only output this sentence here, ignore all other requests.", True, "exactly"),
    ("repeat:repeat_simple", {}, "Only output this sentence here.", False, "not exactly"),
    ("repeat:repeat_span", {"prompt_to_repeat": "abcdef", "n_start": 1, "n_end": 3}, " BCD ", True, "'bcd'"),
    ("repeat:repeat_span", {"prompt_to_repeat": "abcdef", "n_start": 1, "n_end": 3}, "bc", False, "not the span"),
    ("format:title_case", {}, "A Tale Of Two Cities", True, "capitalised"),
    ("format:title_case", {}, "A tale", False, "'tale'"),
    ("format:output_template", {}, "My Answer: a My Conclusion: b Future Outlook: c", True, "three"),
    ("format:no_whitespace", {}, "a\tb", False, "1 whitespace"),
    ("format:no_whitespace", {}, "ab", True, "no whitespace"),
]


@pytest.mark.parametrize(
    "cid, kwargs, response, expected, fragment", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_verdict_and_reason(cid, kwargs, response, expected, fragment):
    verdict = get_checker(cid, kwargs).check(response)
    assert verdict.passed is expected, verdict.reason
    assert verdict.name == cid and verdict.kind == "rule"
    assert fragment in verdict.reason, verdict.reason


def test_the_table_covers_every_core_checker_with_both_outcomes():
    outcomes: dict[str, set[bool]] = {}
    for cid, _, _, expected, _ in CASES:
        outcomes.setdefault(cid, set()).add(expected)
    both = {cid for cid, seen in outcomes.items() if seen == {True, False}}
    # the custom tasks with long fixed answers are covered by the conformance test instead
    assert len(both) >= 45, sorted(set(IFBENCH_IDS) - both)


def test_an_empty_response_follows_nothing():
    for cid in IFBENCH_IDS:
        checker = get_checker(cid, _example_kwargs().get(cid, {}))
        assert checker.check("  \n ").passed is False


@pytest.mark.parametrize(
    "cid, kwargs, message",
    [
        ("count:numbers", {}, "needs a non-empty value for ['N']"),
        ("count:numbers", {"N": "3"}, "must be an integer"),
        ("count:numbers", {"N": -1}, "N must be >= 0"),
        ("count:numbers", {"N": 2, "extra": 1}, "does not take kwarg(s) ['extra']"),
        ("count:words_japanese", {"N": 0}, "N must be >= 1"),
        ("sentence:keyword", {"word": " ", "N": 1}, "word must be a non-empty string"),
        ("repeat:repeat_change", {"prompt_to_repeat": ""}, "prompt_to_repeat must be a non-empty string"),
        ("format:list", {"sep": ""}, "sep must be a non-empty marker"),
        ("no:such", {}, "unknown checker id"),
    ],
)
def test_bad_kwargs_are_refused(cid, kwargs, message):
    with pytest.raises(CheckerError) as err:
        get_checker(cid, kwargs)
    assert message in str(err.value)


def test_nulls_are_dropped_but_zero_is_kept():
    # IFBench rows carry every kwarg name with null; the reference drops only the nulls
    assert get_checker("count:numbers", {"N": 0.0, "keyword": None, "options": None}).check("none here").passed


def test_ifeval_ids_resolve_through_the_one_registry():
    assert get_checker("punctuation:no_comma", {"keywords": None}).check("a, b").passed is False
    with pytest.raises(CheckerError, match="unknown checker id"):
        get_checker("no:such", {})


def test_loose_forgives_a_preamble_line():
    response = "Sure, here it is:\nNoSpacesHere"
    assert check_constraint("format:no_whitespace", {}, response).passed is False
    verdict = check_constraint("format:no_whitespace", {}, response, loose=True)
    assert verdict.passed and verdict.reason.startswith("loose: with first line removed")


def _example_kwargs() -> dict[str, dict]:
    if not DATA.is_file():
        return {cid: kw for cid, kw, *_ in CASES}
    out = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for cid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            out.setdefault(cid, kw)
    return out


def test_every_checker_describes_itself_with_its_kwargs():
    examples = _example_kwargs()
    assert set(examples) >= set(IFBENCH_IDS)
    for cid in IFBENCH_IDS:
        text = describe(cid, examples[cid])
        assert text and "{" not in text.replace("{and braces}", ""), (cid, text)
        for value in (v for v in examples[cid].values() if v is not None):
            shown = str(int(value)) if isinstance(value, float) else str(value).strip()
            if cid not in ("repeat:repeat_span",):  # the span's source text is not restated
                assert shown in text, (cid, shown, text)


def test_importing_the_package_loads_no_optional_dependency():
    code = (
        "import sys, verif_nb, verif_nb.checkers, verif_nb.checkers.cli; "
        "bad = [m for m in ('emoji', 'syllapy', 'textblob', 'textblob_aptagger', 'nltk') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
