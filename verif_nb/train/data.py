"""Training records: where they come from, which are kept, the hold-out split, the TRL dataset.

``data.source`` in a params file is ``sample`` (the embedded VerInstruct sample), ``synthetic:N``
(N generated prompts with hard constraints checked by the built-in IFEval checkers — no dataset
code, no judge, distinct from IFEval's own prompts), or anything :func:`verif_nb.data.load_records` reads.

Example:
    >>> recs = synthetic_records(6, seed=1)
    >>> train, held = split_records(recs, holdout=0.5, seed=0)
    >>> (len(train), len(held), all(c.kind == "rule" for r in recs for c in r.constraints))
    (3, 3, True)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from verif_nb.errors import ParamsError
from verif_nb.records import Constraint, Record

if TYPE_CHECKING:
    from datasets import Dataset

    from verif_nb.train.params import DataParams

log = logging.getLogger(__name__)

_TOPICS = (
    "the benefits of drinking water",
    "how bees make honey",
    "why the sky is blue",
    "a day at the beach",
    "the history of the bicycle",
    "how to plant a tomato",
    "the life of a lighthouse keeper",
    "what makes a good friend",
    "the moon landing",
    "how rainbows form",
    "a rainy afternoon in a small town",
    "learning to play the guitar",
    "why sleep matters",
    "the first day of school",
    "a robot who wants to paint",
    "how volcanoes erupt",
    "the smell of fresh bread",
    "a trip to the mountains",
    "how to save money",
    "the importance of recycling",
    "a letter to a future self",
    "the ocean at night",
    "how trains changed travel",
    "a cat that cannot sleep",
    "the rules of chess",
    "why people keep diaries",
    "a walk in the forest",
    "how clouds are made",
    "a lost umbrella",
    "the joy of cooking pasta",
    "why maps are useful",
    "a city without cars",
)
_TASKS = (
    "Write a short paragraph about {t}.",
    "Describe {t} in a few sentences.",
    "Tell me about {t}.",
    "Write a short note about {t}.",
    "Explain {t} to a child.",
)
_KEYWORDS = ("sunlight", "garden", "window", "music", "river", "journey", "orange", "silver", "whisper", "bridge")
_ENDINGS = ("Is there anything else I can help with?", "That is all.", "Thank you for reading.", "The end.")

# (checker id, kwargs factory, instruction text factory): the instruction is written in IFEval's words.
_CONSTRAINTS: dict[str, tuple[Any, Any]] = {
    "change_case:english_lowercase": (
        lambda r: {},
        lambda kw: (
            "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."
        ),
    ),
    "punctuation:no_comma": (lambda r: {}, lambda kw: "In your entire response, refrain from the use of any commas."),
    "startend:end_checker": (
        lambda r: {"end_phrase": r.choice(_ENDINGS)},
        lambda kw: (
            f'Finish your response with this exact phrase "{kw["end_phrase"]}". '
            "No other words should follow this phrase."
        ),
    ),
    "startend:quotation": (lambda r: {}, lambda kw: "Wrap your entire response with double quotation marks."),
    "keywords:existence": (
        lambda r: {"keywords": r.sample(_KEYWORDS, 2)},
        lambda kw: f"Include the keywords {kw['keywords'][0]} and {kw['keywords'][1]} in the response.",
    ),
    "detectable_format:title": (
        lambda r: {},
        lambda kw: "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
    ),
    "length_constraints:number_words": (
        lambda r: {"relation": "less than", "num_words": r.choice((30, 40, 50))},
        lambda kw: f"Answer with less than {kw['num_words']} words.",
    ),
    "detectable_content:postscript": (
        lambda r: {"postscript_marker": "P.S."},
        lambda kw: "At the end of your response, please explicitly add a postscript starting with P.S.",
    ),
}
SYNTHETIC_GROUPS = tuple(sorted({cid.split(":")[0] for cid in _CONSTRAINTS}))


def synthetic_records(
    n: int, seed: int = 0, checker_ids: Sequence[str] | None = None, max_constraints: int = 1
) -> list[Record]:
    """``n`` generated prompts, each with 1..``max_constraints`` hard constraints (built-in IFEval checkers).

    Topics and phrasing are verif-nb's own, so evaluation on IFEval stays out of distribution for prompts
    while the constraint types overlap. Deterministic for a seed.

    Example:
        >>> r = synthetic_records(1, seed=0, checker_ids=["punctuation:no_comma"])[0]
        >>> (r.constraints[0].checker_id, "commas" in r.prompt)
        ('punctuation:no_comma', True)
    """
    ids = list(checker_ids or _CONSTRAINTS)
    unknown = [c for c in ids if c not in _CONSTRAINTS]
    if unknown:
        raise ParamsError(f"no synthetic template for {unknown}; choose from {sorted(_CONSTRAINTS)}")
    rng = random.Random(seed)
    out: list[Record] = []
    for i in range(n):
        task = rng.choice(_TASKS).format(t=rng.choice(_TOPICS))
        chosen = rng.sample(ids, rng.randint(1, min(max_constraints, len(ids))))
        constraints, lines = [], []
        for cid in chosen:
            make_kwargs, make_text = _CONSTRAINTS[cid]
            kwargs = make_kwargs(rng)
            constraints.append(Constraint(name=cid, kind="rule", checker_id=cid, kwargs=kwargs))
            lines.append(make_text(kwargs))
        out.append(
            Record(
                id=f"synthetic-{seed}-{i}",
                prompt=task + " " + " ".join(lines),
                constraints=constraints,
                meta={"format": "synthetic"},
            )
        )
    return out


def split_records(records: Sequence[Record], holdout: float = 0.2, seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Split records into (train, held-out); the held-out share is ``holdout``, chosen at random by ``seed``.

    Order inside each part follows the input. With ``holdout=0`` everything is training data.

    Example:
        >>> recs = synthetic_records(10)
        >>> [len(x) for x in split_records(recs, holdout=0.2, seed=3)]
        [8, 2]
    """
    if not 0.0 <= holdout < 1.0:
        raise ParamsError(f"holdout={holdout}: a fraction in [0, 1)")
    n_held = int(round(len(records) * holdout))
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_held])
    return ([r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held])


def load_training_records(data: DataParams, verifier_mode: str = "rule") -> list[Record]:
    """The records a run trains and evaluates on (before the hold-out split), filtered as ``data`` says.

    Records the verifier cannot score in its mode are left out (rule mode needs a rule constraint,
    llm mode a soft one); each filter logs how many it removed.

    Example:
        >>> from verif_nb.train.params import DataParams
        >>> len(load_training_records(DataParams(source="synthetic:5")))
        5
    """
    source = data.source
    if source == "sample":
        from verif_nb.data import load_sample

        records = list(load_sample().records)
    elif source.startswith("synthetic:"):
        count = source.partition(":")[2]
        if not count.isdigit():
            raise ParamsError(f"data.source={source!r}: write synthetic:N with a number of prompts")
        records = synthetic_records(int(count), seed=data.seed)
    else:
        from verif_nb.data import load_records
        from verif_nb.files import project_path

        # a relative file resolves the same from JupyterLab (cwd notebooks/) as from the project root;
        # anything that is not a local path (a hub id) is passed on as written
        local = project_path(source)
        records = list(
            load_records(local if local.exists() else source, format=data.format, **data.load_kwargs).records
        )
    total = len(records)
    require = data.require or {"rule": "rule", "llm": "llm"}.get(verifier_mode)
    if require:
        records = [r for r in records if any(c.kind == require for c in r.constraints)]
    if data.rule_groups:
        groups = set(data.rule_groups)
        records = [r for r in records if r.rule_constraints and all(c.group in groups for c in r.rule_constraints)]
    if len(records) < total:
        log.info("kept %d of %d records (require=%s, rule_groups=%s)", len(records), total, require, data.rule_groups)
    if data.limit is not None:
        records = records[: data.limit]
    if not records:
        raise ParamsError(
            f"no training records left from {source!r} after filtering "
            f"(require={require}, rule_groups={data.rule_groups}); loosen data.rule_groups/require"
        )
    return records


def chat_prompt(record: Record, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The conversational prompt of a record (TRL applies the model's chat template).

    Example:
        >>> chat_prompt(Record("a", "Hi.", []), "Be brief.")[0]["role"]
        'system'
    """
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": record.prompt}]


def build_dataset(
    records: Sequence[Record],
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
    system_prompt: str | None = None,
) -> Dataset:
    """A ``datasets.Dataset`` for GRPOTrainer: a conversational ``prompt`` plus the record columns.

    With a tokenizer and ``max_prompt_tokens``, prompts longer than that after the chat template are
    dropped (TRL's GRPOConfig has no prompt-length limit; verl's ``max_prompt_length`` filters the same way).

    Example:
        >>> ds = build_dataset(synthetic_records(3))
        >>> sorted(ds.column_names)
        ['constraints', 'prompt', 'record_id']
    """
    from datasets import Dataset

    from verif_nb.records import record_to_columns

    rows = []
    dropped = 0
    for record in records:
        prompt = chat_prompt(record, system_prompt)
        if tokenizer is not None and max_prompt_tokens is not None:
            ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
            if hasattr(ids, "keys"):
                ids = ids["input_ids"]
            if len(ids) > max_prompt_tokens:
                dropped += 1
                continue
        cols = record_to_columns(record)
        rows.append({"prompt": prompt, "record_id": cols["record_id"], "constraints": cols["constraints"]})
    if dropped:
        log.info("dropped %d prompt(s) longer than %d tokens", dropped, max_prompt_tokens)
    if not rows:
        raise ParamsError(f"every prompt is longer than max_prompt_tokens={max_prompt_tokens}; raise it")
    return Dataset.from_list(rows)
