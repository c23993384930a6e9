"""Constraints in words, for asking a judge about a built-in (IFEval) checker.

The judge sees the same instruction a policy saw; these sentences name the one constraint being
asked about, so per-constraint judge accuracy can be measured against the exact code verdicts.

Example:
    >>> describe_builtin("length_constraints:number_words", {"relation": "at least", "num_words": 300})
    'The response must contain at least 300 words.'
"""

from __future__ import annotations

from typing import Any, Callable

LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese",
    "ru": "Russian", "ja": "Japanese", "ko": "Korean", "zh": "Chinese", "ar": "Arabic", "hi": "Hindi",
    "bn": "Bengali", "te": "Telugu", "ta": "Tamil", "mr": "Marathi", "gu": "Gujarati", "kn": "Kannada",
    "pa": "Punjabi", "ur": "Urdu", "fa": "Persian", "th": "Thai", "vi": "Vietnamese", "sw": "Swahili",
    "fi": "Finnish", "ne": "Nepali", "bg": "Bulgarian", "tr": "Turkish", "pl": "Polish", "nl": "Dutch",
}


def _relation(rel: str | None, n: Any, unit: str) -> str:
    return f"{rel or 'at least'} {n} {unit}"


_DESCRIBERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "change_case:capital_word_frequency": lambda k: "Words written entirely in capital letters must appear "
    + _relation(k.get("capital_relation"), k.get("capital_frequency"), "times") + ".",
    "change_case:english_capital": lambda k: "The entire response must be in English and in capital letters only.",
    "change_case:english_lowercase": lambda k: "The entire response must be in English and in lowercase letters only, "
    "with no capital letters.",
    "combination:repeat_prompt": lambda k: "The response must first repeat the request word for word without change "
    f"(\"{k.get('prompt_to_repeat', '')}\"), then give the answer.",
    "combination:two_responses": lambda k: "The response must give two different responses separated by exactly "
    "six asterisks (******).",
    "detectable_content:number_placeholders": lambda k: f"The response must contain at least "
    f"{k.get('num_placeholders')} placeholders in square brackets, such as [address].",
    "detectable_content:postscript": lambda k: f"The response must end with a postscript starting with "
    f"{k.get('postscript_marker') or 'P.S.'}.",
    "detectable_format:constrained_response": lambda k: "The response must be exactly one of: 'My answer is yes.', "
    "'My answer is no.', 'My answer is maybe.'",
    "detectable_format:json_format": lambda k: "The entire response must be valid JSON (it may be wrapped in a "
    "markdown code block).",
    "detectable_format:multiple_sections": lambda k: f"The response must have exactly {k.get('num_sections')} sections, "
    f"each starting with '{k.get('section_spliter') or 'Section'} X'.",
    "detectable_format:number_bullet_lists": lambda k: f"The response must contain exactly {k.get('num_bullets')} "
    "markdown bullet points (lines starting with * or -).",
    "detectable_format:number_highlighted_sections": lambda k: f"The response must highlight at least "
    f"{k.get('num_highlights')} sections with markdown, like *highlighted section*.",
    "detectable_format:title": lambda k: "The response must include a title wrapped in double angular brackets, "
    "like <<title>>.",
    "keywords:existence": lambda k: "The response must include the keywords: "
    + ", ".join(repr(w) for w in k.get("keywords") or []) + ".",
    "keywords:forbidden_words": lambda k: "The response must not contain any of these words: "
    + ", ".join(repr(w) for w in k.get("forbidden_words") or []) + ".",
    "keywords:frequency": lambda k: f"The word '{k.get('keyword')}' must appear "
    + _relation(k.get("relation"), k.get("frequency"), "times") + ".",
    "keywords:letter_frequency": lambda k: f"The letter '{k.get('letter')}' must appear "
    + _relation(k.get("let_relation"), k.get("let_frequency"), "times") + ".",
    "language:response_language": lambda k: "The entire response must be written in "
    f"{LANGUAGE_NAMES.get(k.get('language') or '', k.get('language'))}, and no other language.",
    "length_constraints:nth_paragraph_first_word": lambda k: f"The response must have exactly {k.get('num_paragraphs')} "
    f"paragraphs separated by blank lines, and paragraph {k.get('nth_paragraph')} must start with the word "
    f"'{k.get('first_word')}'.",
    "length_constraints:number_paragraphs": lambda k: f"The response must have exactly {k.get('num_paragraphs')} "
    "paragraphs, separated by the markdown divider ***.",
    "length_constraints:number_sentences": lambda k: "The response must contain "
    + _relation(k.get("relation"), k.get("num_sentences"), "sentences") + ".",
    "length_constraints:number_words": lambda k: "The response must contain "
    + _relation(k.get("relation"), k.get("num_words"), "words") + ".",
    "punctuation:no_comma": lambda k: "The response must not contain any commas.",
    "startend:end_checker": lambda k: f"The response must end with the exact phrase \"{k.get('end_phrase')}\" "
    "with no other words after it.",
    "startend:quotation": lambda k: "The entire response must be wrapped in double quotation marks.",
}


def describe_builtin(checker_id: str, kwargs: dict[str, Any] | None) -> str:
    """One sentence stating what a built-in checker requires; unknown ids fall back to the id and kwargs.

    Example:
        >>> describe_builtin("punctuation:no_comma", None)
        'The response must not contain any commas.'
    """
    clean = {k: v for k, v in (kwargs or {}).items() if v is not None}
    describer = _DESCRIBERS.get(checker_id)
    if describer is None:
        from verif_nb.ifbench.builtins import describe  # IFBench's checkers describe themselves

        text = describe(checker_id, clean)
        if text is not None:
            return text
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(clean.items()))
        return f"The response must satisfy the constraint '{checker_id}'" + (f" ({args})." if args else ".")
    return describer(clean)
