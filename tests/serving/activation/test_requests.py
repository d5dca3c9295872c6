"""Request models: what a body may say, and the errors that name the field when it may not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from features.contracts.events import PURPOSES
from serving.activation.requests import (
    CHANNEL_PURPOSE,
    AudienceRequest,
    AudienceResult,
    SuppressionRequest,
)

BASE = {"target": "any", "top_n": 10, "channel": "email"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_score": 0.2}, "exactly one of min_score or top_n"),
        ({"top_n": None}, "exactly one of min_score or top_n"),
        ({"format": "hashed"}, "needs a platform"),
        ({"platform": "meta"}, "needs a platform"),
        ({"product_id": "p1", "category": "tents"}, "product_id or category, not both"),
        ({"bought_within_days": 30}, "needs product_id or category"),
        ({"target": "Tents!"}, "target"),
        ({"channel": "sms"}, "channel"),
        ({"purpose": "spam"}, "purpose"),
        ({"min_score": 1.5, "top_n": None}, "min_score"),
        ({"top_n": 0}, "top_n"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_an_inconsistent_audience_request_is_refused_naming_the_problem(change, message):
    body = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        AudienceRequest(**body)


def test_purposes_add_up_and_never_drop_the_channels() -> None:
    assert AudienceRequest(**BASE).purposes() == ["email_marketing"]
    hashed = AudienceRequest(**BASE, format="hashed", platform="google", purpose="profiling")
    assert hashed.purposes() == ["email_marketing", "advertising", "profiling"]
    assert AudienceRequest(**{**BASE, "channel": "onsite"}).purposes() == ["personalization"]
    assert set(CHANNEL_PURPOSE.values()) <= set(PURPOSES)


@pytest.mark.parametrize(
    "body",
    [{"platform": "google"}, {"product_id": "p", "category": "c", "platform": "meta"},
     {"category": "c", "platform": "bing"}],
)  # fmt: skip
def test_a_suppression_request_needs_one_subject_and_a_platform(body) -> None:
    with pytest.raises(ValidationError):
        SuppressionRequest(**body)


@pytest.mark.parametrize("model", [AudienceRequest, SuppressionRequest])
def test_the_documented_examples_are_valid_requests(model) -> None:
    schema = model.model_json_schema()
    assert schema["examples"]
    for example in schema["examples"]:
        model.model_validate(example)
    described = [n for n, f in schema["properties"].items() if not f.get("description")]
    assert described == []


def test_the_result_schema_describes_members_without_raw_identifiers() -> None:
    schema = AudienceResult.model_json_schema()
    member = schema["$defs"]["AudienceMember"]["properties"]
    assert set(member) == {"profile_id", "score", "channel_id", "hashed_emails", "hashed_phones"}
