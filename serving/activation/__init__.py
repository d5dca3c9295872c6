"""Activation (issue #6): propensity scores, audiences and suppression lists over the online
store, with consent, erasure, purchase and frequency rules. See docs/activation.md.

What the service calls:
- `score_profiles(settings, model=, model_version=, profile_ids=, at=, store=)` (scores)
- `build_audience(settings, AudienceRequest, at=, store=) -> AudienceResult` (audience)
- `build_suppression(settings, SuppressionRequest, at=, store=) -> SuppressionResult`
- `record_erasure(store, profile_id= | identifier_type= + identifier_value=)` (tables)
"""
