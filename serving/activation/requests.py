"""Request and response bodies of activation: audiences and suppression lists.

Pydantic v2 models with descriptions and examples, so the service can take them as request
bodies and publish them in its OpenAPI document unchanged; the CLI builds the same models
from its flags. Validation that needs no data happens here (exactly one of min_score / top_n,
at most one of product_id / category, a platform with hashed output); what needs the store
(is the target scored, does the product exist) is checked by build_audience, which names the
field in its error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.contracts.events import PURPOSES
from serving.activation.hashing import Platform

Channel = Literal["email", "ads", "onsite"]
Purpose = Literal["email_marketing", "advertising", "personalization", "profiling"]
OutputFormat = Literal["ids", "hashed"]

# The consent purpose each channel needs, and the address a channel's own system knows a
# member by (id type in the identity index, record kind in log_records giving its age).
CHANNEL_PURPOSE: dict[str, str] = {
    "email": "email_marketing",
    "ads": "advertising",
    "onsite": "personalization",
}
CHANNEL_ADDRESS: dict[str, tuple[str, str] | None] = {
    "email": ("subscriber_id", "subscription"),
    "onsite": ("customer_id", "shop_account"),
    "ads": None,
}
# Suppression reasons in the order they are tried; a person is counted under the first.
SUPPRESSION_REASONS = ("erased", "no_consent", "already_bought", "frequency_cap", "unreachable")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _purchase_fields(product_id: str | None, category: str | None, days: int | None) -> None:
    if product_id is not None and category is not None:
        raise ValueError("give product_id or category, not both")
    if days is not None and product_id is None and category is None:
        raise ValueError("bought_within_days needs product_id or category")


class AudienceRequest(_Strict):
    """Who to contact for a campaign: the best-scored people who may be contacted."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"target": "purchase_tents", "top_n": 5000, "channel": "email",
                 "product_id": "prd_00042", "frequency_cap_days": 7},
                {"target": "any", "min_score": 0.3, "channel": "ads", "format": "hashed",
                 "platform": "meta", "category": "tents"},
            ]
        },
    )  # fmt: skip

    target: str = Field(
        description="Propensity target to rank by: `any` (any purchase) or "
        "`purchase_<category>`, as scored by the champion propensity model.",
        pattern=r"^(any|purchase_[a-z0-9_]+)$",
        examples=["purchase_tents"],
    )
    min_score: float | None = Field(
        default=None, ge=0, le=1, description="Keep people scoring at least this (0-1)."
    )
    top_n: int | None = Field(default=None, ge=1, description="Keep the N best-scored people.")
    channel: Channel = Field(
        description="Where the campaign runs: `email` (needs email_marketing consent), `ads` "
        "(advertising), `onsite` (personalization)."
    )
    purpose: Purpose | None = Field(
        default=None,
        description="A further consent purpose every member must have granted, on top of the "
        "channel's (e.g. `profiling` when targeting by score needs it). Never replaces it.",
    )
    format: OutputFormat = Field(
        default="ids",
        description="`ids`: profile ids and the channel's own ids (email: the subscriber id); "
        "`hashed`: SHA-256 of emails and phones normalised for `platform` (needs advertising "
        "consent too: the digests go to an ad platform). Never raw emails or phones.",
    )
    platform: Platform | None = Field(
        default=None, description="Ad platform whose normalisation the hashes follow (hashed)."
    )
    product_id: str | None = Field(
        default=None, description="Promoted product: people who bought it are suppressed."
    )
    category: str | None = Field(
        default=None,
        description="Promoted category (instead of product_id): its buyers are suppressed.",
    )
    bought_within_days: int | None = Field(
        default=None,
        ge=1,
        description="Only purchases of the last N days suppress (default: any purchase ever).",
    )
    frequency_cap_days: int | None = Field(
        default=None,
        ge=1,
        description="Suppress people contacted on this channel in the last N days (email sends "
        "and earlier exports). Default: no cap.",
    )
    preview: bool = Field(
        default=False,
        description="Counts only: no members returned and the export is not recorded (so it "
        "does not count towards frequency caps).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AudienceRequest:
        if (self.min_score is None) == (self.top_n is None):
            raise ValueError("give exactly one of min_score or top_n")
        if (self.format == "hashed") != (self.platform is not None):
            raise ValueError("format hashed needs a platform (google or meta), ids takes none")
        _purchase_fields(self.product_id, self.category, self.bought_within_days)
        return self

    def purposes(self) -> list[str]:
        """Every consent purpose a member needs: the channel's, advertising for hashed output
        (it goes to an ad platform), and `purpose`; in catalogue order."""
        needed = {CHANNEL_PURPOSE[self.channel]}
        if self.format == "hashed":
            needed.add("advertising")
        if self.purpose is not None:
            needed.add(self.purpose)
        return [p for p in PURPOSES if p in needed]


class AudienceMember(_Strict):
    """One person of an audience. Never raw emails or phones."""

    profile_id: str = Field(description="Pseudonymous profile id of the CDP.")
    score: float = Field(description="Calibrated probability of the target.")
    channel_id: str | None = Field(
        default=None,
        description="ids format: the channel system's own id of the person (email: the newest "
        "subscriber id; onsite: the newest shop customer id; ads: none).",
    )
    hashed_emails: list[str] | None = Field(
        default=None, description="hashed format: SHA-256 hex of each normalised email."
    )
    hashed_phones: list[str] | None = Field(
        default=None, description="hashed format: SHA-256 hex of each normalised phone."
    )


class AudienceCounts(_Strict):
    """Who was considered and why people were left out; candidates = members + removed."""

    candidates: int = Field(description="Profiles scored for the target.")
    removed: dict[str, int] = Field(
        description="People left out per reason, each counted once under the first reason that "
        "applies, in this order: erased, no_consent, already_bought, frequency_cap, "
        "unreachable, then below_min_score or beyond_top_n."
    )
    members: int = Field(description="People in the audience.")


class AudienceResult(_Strict):
    """An audience with its counts and provenance."""

    activation_id: str | None = Field(
        description="Id under which the export was recorded (None for a preview)."
    )
    target: str
    channel: Channel
    purposes: list[str] = Field(description="Consent purposes every member has granted.")
    format: OutputFormat
    platform: Platform | None
    model_version: str = Field(description="Propensity model version of the scores.")
    scored_at: datetime = Field(description="Oldest score used (UTC): scores are this fresh.")
    generated_at: datetime = Field(description="When the audience was built (UTC).")
    counts: AudienceCounts
    members: list[AudienceMember] = Field(description="Best score first (ties by profile id).")


class SuppressionRequest(_Strict):
    """Buyers of a product or category, as hashed identifiers for ad-platform exclusion lists."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"product_id": "prd_00042", "platform": "google"},
                {"category": "tents", "platform": "meta", "bought_within_days": 365},
            ]
        },
    )

    product_id: str | None = Field(default=None, description="Suppress buyers of this product.")
    category: str | None = Field(
        default=None, description="Suppress buyers of any product of this category."
    )
    platform: Platform = Field(description="Ad platform whose normalisation the hashes follow.")
    bought_within_days: int | None = Field(
        default=None, ge=1, description="Only purchases of the last N days (default: ever)."
    )

    @model_validator(mode="after")
    def _one_subject(self) -> SuppressionRequest:
        if (self.product_id is None) == (self.category is None):
            raise ValueError("give exactly one of product_id or category")
        _purchase_fields(self.product_id, self.category, self.bought_within_days)
        return self


class SuppressionCounts(_Strict):
    """Buyers found and why some are not on the list; buyers = listed + removed."""

    buyers: int = Field(description="Profiles that bought the product or category.")
    removed: dict[str, int] = Field(
        description="Buyers left off per reason, in order: erased, no_consent (no advertising "
        "consent: the list goes to an ad platform), unreachable (no usable email or phone)."
    )
    listed: int = Field(description="Buyers with at least one hashed identifier on the list.")


class SuppressionResult(_Strict):
    """Hashed identifiers of buyers, sorted, without duplicates."""

    product_id: str | None
    category: str | None
    platform: Platform
    generated_at: datetime
    counts: SuppressionCounts
    hashed_emails: list[str] = Field(description="SHA-256 hex of normalised emails.")
    hashed_phones: list[str] = Field(description="SHA-256 hex of normalised phones.")
