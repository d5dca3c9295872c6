"""Erasure receipts: what was removed, where and when, as counts; never a value.

A receipt names the identifier's type (not its value), the erasure id, the time, the rows
removed per store and table, the identifiers added to the block list per type, and the model
versions marked for retraining. It is returned to the caller, kept in `privacy.sqlite`
(`erasures`) and summarised in the audit log, so it must be safe to show anyone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Receipt:
    """The outcome of one `erase_person` call."""

    erasure_id: str
    erased_at: str
    identifier_type: str
    already_erased: bool = False
    removed: dict[str, dict[str, int]] = field(default_factory=dict)  # store -> table -> rows
    blocked: dict[str, int] = field(default_factory=dict)  # identifier type -> hashes added
    shared_identifiers_kept: int = 0  # values other profiles hold too: not erased nor blocked
    models_marked: list[str] = field(default_factory=list)  # "name:version"
    seconds: float = 0.0
    # For the caller's in-memory clean-up only (the service's matcher and offers); never shown,
    # stored nor audited: to_dict leaves it out.
    profile_id: str | None = field(default=None, repr=False)

    @property
    def rows_removed(self) -> int:
        """Every row removed, all stores together."""
        return sum(n for tables in self.removed.values() for n in tables.values())

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON (the CLI's --json, the endpoint's answer)."""
        shown = {k: v for k, v in asdict(self).items() if k != "profile_id"}
        return {**shown, "rows_removed": self.rows_removed}

    def audit_counts(self) -> dict[str, object]:
        """What the audit log keeps of it: ids and counts only."""
        return {
            "erasure_id": self.erasure_id, "identifier_type": self.identifier_type,
            "already_erased": self.already_erased, "rows_removed": self.rows_removed,
            "removed": self.removed, "blocked": self.blocked,
            "models_marked": self.models_marked,
        }  # fmt: skip
