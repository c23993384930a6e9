"""The result of a load: the records, every skipped row with its reason, and counts of every policy applied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from verif_nb.errors import DataError
from verif_nb.records import Record

# Always present in LoadResult.counts (0 when nothing happened), so callers can index them blindly.
COUNT_KEYS: tuple[str, ...] = (
    "rows",  # rows read (records + skipped)
    "records",
    "skipped",
    "constraints",  # constraints in the loaded records (= rule + llm)
    "rule",
    "llm",
    "responses",  # labelled responses in the loaded records
    "untagged",  # VerInstruct checkers without a [rule]/[llm] tag, in loaded records
    "untagged_to_rule",
    "untagged_to_llm",
    "untagged_dropped",
    "unknown_checkers",  # IFEval/IFBench ids that are not built in, in loaded records
    "unknown_to_llm",
    "unknown_dropped",
    "llm_no_description",  # [llm] code with no string argument to quote; the checker name stands in
    "dropped_by_policy",  # rows skipped because untagged/unknown_checkers='drop' left them no constraint
)


class RowDropped(DataError):
    """A row left with no constraint by an explicit 'drop' policy: skipped (and counted) even when not lenient,
    because the caller asked for it — it is not bad input."""


@dataclass
class LoadResult:
    """Records read from a source, the rows skipped (each a DataError naming file, line, field and reason),
    and counts; ``counts["rows"] == len(records) + len(skipped)`` always.

    Iterating, ``len`` and indexing go over the records.

    Example:
        >>> from verif_nb.records import Constraint
        >>> r = LoadResult([Record("a", "p", [Constraint("c", "llm", description="d")])], [], {"records": 1})
        >>> (len(r), r[0].id, [x.id for x in r])
        (1, 'a', ['a'])
    """

    records: list[Record]
    skipped: list[DataError]
    counts: dict[str, int]
    format: str = ""  # the format read ("verinstruct", "verl", "ifeval", "ifbench"; "a+b" for a mixed folder)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        return self.records[index]

    def groups(self) -> dict[str, int]:
        """Constraints per group (``Constraint.group``), most frequent first.

        Example:
            >>> from verif_nb.records import Constraint
            >>> c = Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma")
            >>> LoadResult([Record("a", "p", [c])], [], {}).groups()
            {'punctuation': 1}
        """
        return dict(Counter(c.group for r in self.records for c in r.constraints).most_common())

    def summary(self, max_errors: int = 10) -> str:
        """A few human-readable lines: what was loaded, each policy applied, and the first skipped rows.

        Example:
            >>> print(LoadResult([], [], {"rows": 0}).summary())
            0 records from 0 rows (0 skipped); 0 constraints: 0 rule, 0 llm; 0 labelled responses
        """
        c = Counter(self.counts)
        lines = [
            f"{len(self.records)} records from {c['rows']} rows ({len(self.skipped)} skipped); "
            f"{c['constraints']} constraints: {c['rule']} rule, {c['llm']} llm; {c['responses']} labelled responses"
        ]
        if c["untagged"]:
            lines.append(
                f"untagged checkers: {c['untagged']} ({c['untagged_to_rule']} as rule, "
                f"{c['untagged_to_llm']} as llm, {c['untagged_dropped']} dropped)"
            )
        if c["unknown_checkers"]:
            lines.append(
                f"checker ids not built in: {c['unknown_checkers']} ({c['unknown_to_llm']} as llm, "
                f"{c['unknown_dropped']} dropped)"
            )
        if c["llm_no_description"]:
            lines.append(
                f"llm constraints without a quotable description (checker name used): {c['llm_no_description']}"
            )
        if c["dropped_by_policy"]:
            lines.append(f"rows left without constraints by a 'drop' policy: {c['dropped_by_policy']}")
        for err in self.skipped[:max_errors]:
            lines.append(f"  skipped {err}")
        if len(self.skipped) > max_errors:
            lines.append(f"  ... and {len(self.skipped) - max_errors} more (see .skipped)")
        return "\n".join(lines)


@dataclass
class Collector:
    """Accumulates records and skipped rows during a load; raises at the first bad row unless lenient."""

    lenient: bool
    records: list[Record] = field(default_factory=list)
    skipped: list[DataError] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    seen_ids: dict[str, str] = field(default_factory=dict)

    def row(self) -> None:
        self.counts["rows"] += 1

    def fail(self, err: DataError) -> None:
        if isinstance(err, RowDropped):
            self.counts["dropped_by_policy"] += 1
        elif not self.lenient:
            raise err
        self.skipped.append(err)

    def add(self, record: Record, row_counts: Counter, id_field: str, path: str, line: int) -> None:
        first = self.seen_ids.get(record.id)
        if first is not None:
            self.fail(
                DataError(
                    path,
                    line,
                    id_field,
                    f"duplicate id {record.id!r} (first at {first}); ids must be unique across the whole source",
                )
            )
            return
        self.seen_ids[record.id] = f"{path}:{line}"
        self.records.append(record)
        self.counts.update(row_counts)

    def result(self, fmt: str) -> LoadResult:
        counts = {k: 0 for k in COUNT_KEYS}
        counts.update(self.counts)
        counts["records"] = len(self.records)
        counts["skipped"] = len(self.skipped)
        counts["constraints"] = sum(len(r.constraints) for r in self.records)
        counts["rule"] = sum(len(r.rule_constraints) for r in self.records)
        counts["llm"] = counts["constraints"] - counts["rule"]
        counts["responses"] = sum(len(r.responses) for r in self.records)
        return LoadResult(self.records, self.skipped, counts, fmt)
