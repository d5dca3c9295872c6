"""The right to be forgotten (issue #7): erase a person everywhere, keep them out.

- `blocklist`: salted SHA-256 of erased identifiers (per-home random salt), read by ingest and
  the real-time event path so nothing brings an erased person back;
- `erasure`: `erase_person(settings, identifier_type, value)`, the erase-everywhere operation;
- `stores`: the per-store deletes (one transaction per store);
- `models`: registered model versions trained before an erasure tagged for retraining;
- `receipts`: what an erasure removed (counts only, never a value);
- `audit`: the append-only audit log (`CDP_HOME/audit.sqlite`) shared with the service.
"""
