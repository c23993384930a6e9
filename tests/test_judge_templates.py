"""Judge templates: the built-in four, user templates, rendering, and the answer parsers."""

from __future__ import annotations

import pytest

from verif_nb.errors import JudgeError
from verif_nb.judge import (
    JudgeTemplate,
    get_template,
    list_templates,
    load_template_dir,
    parse_verdict,
    register_template,
    strip_think,
)

BUILTINS = {
    "verif_score_zh": ("bracket", "all", "zh"),
    "verif_judge_zh": ("yes_no", "one", "zh"),
    "verif_score_en": ("bracket", "all", "en"),
    "verif_judge_en": ("yes_no", "one", "en"),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_templates_have_the_documented_shape(name):
    t = get_template(name)
    assert (t.parser, t.scope, t.language) == BUILTINS[name]
    assert t.description and t.system
    messages = t.render("PROMPT-X", "RESPONSE-Y", ["CONSTRAINT-Z"])
    user = messages[-1]["content"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "PROMPT-X" in user and "RESPONSE-Y" in user and "CONSTRAINT-Z" in user
    assert "{" not in user  # every field substituted
    if t.parser == "bracket":
        assert "[[1]]" in user and "[[0]]" in user


def test_score_template_lists_all_constraints_numbered():
    user = get_template("verif_score_zh").render("p", "r", ["Be brief.", "Sound formal."])[-1]["content"]
    assert "1. Be brief.\n2. Sound formal." in user
    assert "【约束】" in user


def test_braces_in_data_are_substituted_literally():
    user = get_template("verif_judge_en").render("use {json}", '{"a": 1} {constraint}', ["has {x}"])[-1]["content"]
    assert "use {json}" in user and '{"a": 1} {constraint}' in user and "has {x}" in user


def test_one_constraint_template_refuses_several():
    with pytest.raises(JudgeError, match="one constraint per call"):
        get_template("verif_judge_en").render("p", "r", ["a", "b"])


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "user": "{response} {constraint}", "parser": "regex"}, "parser must be one of"),
        ({"name": "x", "user": "{prompt} {constraint}", "parser": "yes_no"}, r"\{response\}"),
        ({"name": "x", "user": "{response} {constraint} {constraints}", "parser": "yes_no"}, "exactly one of"),
        ({"name": "x", "user": "{response}", "parser": "yes_no"}, "exactly one of"),
        ({"name": "x", "user": "{response} {constraint}", "parser": "yes_no", "colour": 1}, "unknown template keys"),
        ({"name": "x", "user": "{response} {constraint}"}, "missing template keys"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(data, message):
    with pytest.raises(JudgeError, match=message):
        register_template(data)


def test_user_templates_from_a_directory_and_by_path(tmp_path):
    (tmp_path / "strict.yaml").write_text(
        "name: test_strict_dir\nparser: yes_no\nuser: |-\n  Response: {response}\n  Rule: {constraint}\n  Yes or No?\n"
    )
    loaded = load_template_dir(tmp_path)
    assert [t.name for t in loaded] == ["test_strict_dir"]
    assert "test_strict_dir" in list_templates()
    assert get_template("test_strict_dir").system is None
    assert get_template(str(tmp_path / "strict.yaml")).name == "test_strict_dir"


def test_register_refuses_silent_replacement_and_hash_tracks_wording():
    a = register_template({"name": "test_dup", "user": "{response} {constraint}", "parser": "yes_no"})
    with pytest.raises(JudgeError, match="already exists"):
        register_template({"name": "test_dup", "user": "{response} / {constraint}", "parser": "yes_no"})
    b = register_template({"name": "test_dup", "user": "{response} / {constraint}", "parser": "yes_no"}, overwrite=True)
    assert a.text_hash != b.text_hash and get_template("test_dup") is b


def test_unknown_template_names_the_known_ones():
    with pytest.raises(JudgeError, match="verif_score_en"):
        get_template("no_such_template")


@pytest.mark.parametrize(
    "raw, parser, expected",
    [
        ("[[1]]", "bracket", True),
        ("[[0]] It has four bullets.", "bracket", False),
        ("Verdict: [[ 1 ]]", "bracket", True),
        ("[[0]] ... though one could argue [[1]]", "bracket", None),  # conflicting verdicts: unparseable
        ('The response ends with "[[1]]" as asked. Verdict: [[0]]', "bracket", None),  # a quoted [[1]]
        ("[[1]] and again [[1]]", "bracket", True),  # repeated, not conflicting
        ("[[0]] ... though one could argue [[1]]", "bracket_first", False),  # the template says: first counts
        ("[[0]] ... though one could argue [[1]]", "bracket_last", True),
        ("<think>maybe [[0]]</think>\n[[1]]", "bracket", True),
        ("<think>a</think>x<think>b [[1]]</think>[[0]]", "bracket", False),  # after the LAST </think>
        ("1", "bracket", None),
        ("Yes", "yes_no", True),
        ("**No**, it uses commas.", "yes_no", False),
        ("yes.", "yes_no", True),
        ("是", "yes_no", True),
        ("否，回复没有使用列表。", "yes_no", False),
        ("The answer is no.", "yes_no", False),
        ("<think>No wait, yes</think> Yes", "yes_no", True),
        ("Not sure; yes and no.", "yes_no", None),
        ("I cannot decide.", "yes_no", None),
        ("", "yes_no", None),
        ("<think>I keep thinking and never stop", "bracket", None),  # reasoning cut off by max_tokens
    ],
)
def test_parse_verdict_table(raw, parser, expected):
    verdict = parse_verdict(raw, parser)
    assert verdict.passed is expected
    if expected is None:
        assert verdict.error
    else:
        assert verdict.error is None and raw[verdict.offset] in "01YyNn是否"


def test_truncated_reasoning_has_a_helpful_error():
    assert "max_tokens" in parse_verdict("<think>and so on", "yes_no").error


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>plan</think>Answer", "Answer"),
        ("a</think>b</think>c", "c"),
        ("no tags", "no tags"),
        ("<think>open only", "<think>open only"),
    ],
)
def test_strip_think(text, expected):
    assert strip_think(text) == expected


def test_templates_are_dataclasses_usable_directly():
    t = JudgeTemplate(name="inline", user="{response} | {constraints}", parser="bracket")
    assert t.scope == "all" and t.render("p", "r", ["a", "b"])[0]["content"] == "r | 1. a\n2. b"


def test_templates_looked_up_from_many_threads_at_once_are_all_found():
    """The judge's worker threads look templates up at once on a fresh interpreter; the built-ins must be fully
    loaded before any of them is answered (a race here cost a rule its llm_extract: 'unknown judge template').
    Each trial is a fresh interpreter, so the built-ins are loaded by the racing threads themselves."""
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from verif_nb.judge import templates\n"
        "names = ['verif_judge_en', 'verif_score_zh', 'verif_judge_zh', 'verif_score_en'] * 4\n"
        "barrier = threading.Barrier(len(names))\n"
        "errors = []\n"
        "def look(name):\n"
        "    barrier.wait()\n"
        "    try:\n"
        "        templates.get_template(name)\n"
        "    except Exception as err:\n"
        "        errors.append(repr(err))\n"
        "threads = [threading.Thread(target=look, args=(n,)) for n in names]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(len(errors), errors[:1])\n"
    )
    outcomes = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(5)
    ]
    assert all(out.startswith("0 ") for out in outcomes), outcomes


def test_a_score_int_refuses_reads_as_the_originals_0_not_an_exception():
    """`[[<4,301 digits>]]` made int() raise inside the parser and `verify --profile reference` exit 1 with every
    row lost (an outside reviewer's case); the original's extract_score catches it and scores 0."""
    huge = "[[" + "9" * 4301 + "]]"
    assert parse_verdict(huge, "verif_first").passed is False
    assert parse_verdict("[[" + "0" * 5000 + "]]", "verif_first").passed is False
    assert parse_verdict(huge + " [[1]]", "verif_first").passed is False  # the first [[n]] counts, as there
    assert parse_verdict("[[" + "9" * 4300 + "]]", "verif_first").passed is True
