"""Every input format read into one record model (:class:`verif_nb.records.Record`), and verl export.

Formats: VerInstruct jsonl/parquet/hub dataset (``id, prompt, checkers, functions`` plus an optional
``responses`` field with gold labels), verl parquet rows as VerIF's preprocessing writes them, and
IFEval / IFBench jsonl (``key, prompt, instruction_id_list, kwargs``). Bad rows are errors naming file,
line and field, or — with ``lenient=True`` — skipped and listed; nothing is dropped uncounted.

Example:
    >>> from verif_nb.data import load_records, export_verl
    >>> res = load_records("../shared/data/ifeval/input_data.jsonl")   # doctest: +SKIP
    >>> len(res), res.counts["rule"]                                    # doctest: +SKIP
    (541, 834)
"""

from verif_nb.data._io import ResponseRow, read_response_rows, read_responses
from verif_nb.data._load import FORMATS, detect_format, load_records, load_sample
from verif_nb.data._result import COUNT_KEYS, LoadResult
from verif_nb.data._verinstruct import extract_llm_description, split_tag
from verif_nb.data._verl import export_verl, parse_verl_row
from verif_nb.files import read_jsonl, write_jsonl

__all__ = [
    "COUNT_KEYS",
    "FORMATS",
    "LoadResult",
    "detect_format",
    "export_verl",
    "extract_llm_description",
    "load_records",
    "load_sample",
    "parse_verl_row",
    "read_jsonl",
    "ResponseRow",
    "read_response_rows",
    "read_responses",
    "split_tag",
    "write_jsonl",
]
