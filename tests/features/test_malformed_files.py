"""The malformed-file matrix (issue #7): each file gets a clear error or its bad rows are
quarantined with a reason; nothing crashes and rows in = loaded + quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.ingest import ingest_folder

HEADER = "customer_id,email,first_name,last_name,phone,created_at"
GOOD = "c1,ann@mail.example,Ann,Lee,+12125550134,2025-01-01T10:00:00Z"

CASES = {
    # name: (file bytes, expected: "failed" with a message fragment, or "quarantine" count)
    "bad_encoding": ((HEADER + "\n" + GOOD + "\nc2,b\xe9@mail.example,B\xe9a,Lee,"
                      "+12125550135,2025-01-01T10:00:00Z\n").encode("latin-1"), None),
    "wrong_delimiter": ((HEADER.replace(",", ";") + "\n" + GOOD.replace(",", ";") + "\n")
                        .encode(), None),
    "wrong_types": ((HEADER + "\n" + GOOD + "\nc2,not-an-email,Bea,Lee,call me,yesterday\n")
                    .encode(), None),
    "empty": (b"", None),
    "duplicate_ids": ((HEADER + "\n" + GOOD + "\n" + GOOD.replace("Ann", "Anne") + "\n")
                      .encode(), None),
    "huge_field": ((HEADER + "\n" + GOOD + "\nc2,b@mail.example," + "B" * 5_000_000
                    + ",Lee,+12125550135,2025-01-01T10:00:00Z\n").encode(), None),
    "binary": (bytes(range(256)) * 100, None),
    "unterminated_quote": ((HEADER + "\n" + GOOD + '\nc2,"b@mail.example,Bea,Lee\n').encode(),
                           None),
}  # fmt: skip


# What each case must give: a failed file with this in its message, or rows quarantined.
EXPECTED = {
    "bad_encoding": ("failed", "not UTF-8 text"), "binary": ("failed", "not UTF-8 text"),
    "empty": ("failed", "file is empty"), "unterminated_quote": ("failed", "cannot parse CSV"),
    "wrong_delimiter": ("failed", "missing required column"),
    "duplicate_ids": ("loaded", 1), "huge_field": ("loaded", 1), "wrong_types": ("loaded", 1),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_file_gets_a_clear_error_or_quarantine_never_a_crash(
    case: str, settings, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "shop_customers.csv").write_bytes(CASES[case][0])
    [result] = ingest_folder(settings, folder)
    status, detail = EXPECTED[case]
    assert result.status == status, (case, result)
    if status == "loaded":
        assert result.rows_in == result.rows_loaded + result.rows_quarantined
        assert result.rows_quarantined == detail and result.rows_loaded == 1
    else:
        assert detail in result.message and "shop_customers.csv" in result.message
        assert result.rows_loaded == 0
