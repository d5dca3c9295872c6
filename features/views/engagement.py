"""Email engagement and call-center contacts.

Email reads `email_v` (the marketing cloud's sends, opens, clicks, unsubscribes and bounces of
the profile's subscriptions; the category is the campaign's promoted category). Calls read
`calls_v` (call-center interactions of the profile's CRM contacts).
"""

from __future__ import annotations

from features.contracts.events import CALL_CENTER_INTERACTIONS
from features.definitions import Feature, FeatureView, quote, slug, within

EMAIL_WINDOWS = ("30d", "90d", "365d")
YEAR = "365d"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _rate(numerator: str, denominator: str) -> str:
    return f"CAST({_count(numerator)} AS DOUBLE) / NULLIF({_count(denominator)}, 0)"


def email_views(categories: dict[str, str]) -> list[FeatureView]:
    """The view over email events."""
    out = []
    for w in EMAIL_WINDOWS:
        for kind, plural in (("send", "sends"), ("open", "opens"), ("click", "clicks")):
            out.append(Feature("email", plural, w, f"Campaign emails: {plural}.",
                               _count(f"type = '{kind}' AND {within(w)}")))  # fmt: skip
    in_year = within(YEAR)
    out += [
        Feature("email", "open_rate", YEAR, "Opens per email sent.",
                _rate(f"type = 'open' AND {in_year}", f"type = 'send' AND {in_year}"),
                default=None, dtype="float"),
        Feature("email", "click_rate", YEAR, "Clicks per email sent.",
                _rate(f"type = 'click' AND {in_year}", f"type = 'send' AND {in_year}"),
                default=None, dtype="float"),
        Feature("email", "days_since_last_open", "all", "Whole days since the last open.",
                "$as_of_day - MAX(CASE WHEN type = 'open' THEN day END)", default=None),
        Feature("email", "days_since_last_click", "all", "Whole days since the last click.",
                "$as_of_day - MAX(CASE WHEN type = 'click' THEN day END)", default=None),
        Feature("email", "unsubscribes", "all", "Unsubscribes from any subscription.",
                _count("type = 'unsubscribe'")),
        Feature("email", "bounces", "all", "Bounced emails.", _count("type = 'bounce'")),
    ]  # fmt: skip
    for value, name in categories.items():
        in_c = f"category = {quote(value)} AND {in_year}"
        out += [
            Feature("email", f"opens_{name}", YEAR, f"Opens of campaigns promoting {value}.",
                    _count(f"type = 'open' AND {in_c}")),
            Feature("email", f"clicks_{name}", YEAR, f"Clicks in campaigns promoting {value}.",
                    _count(f"type = 'click' AND {in_c}")),
        ]  # fmt: skip
    query = "SELECT entity_id, {features} FROM email_v GROUP BY entity_id"
    return [FeatureView("fv_email", ("email",), query, tuple(out))]


def call_reasons() -> tuple[str, ...]:
    """The call reasons the contract allows, in its order."""
    column = next(c for c in CALL_CENTER_INTERACTIONS.columns if c.name == "reason")
    return tuple(column.checks[0].statistics["allowed_values"])


def call_views() -> list[FeatureView]:
    """The view over call-center interactions."""
    out = [
        Feature("calls", "contacts", w, "Call-center contacts.", _count(within(w)))
        for w in ("90d", YEAR)
    ]
    for reason in call_reasons():
        out.append(Feature("calls", f"reason_{slug(reason)}", YEAR,
                           f"Calls about {reason.replace('_', ' ')}.",
                           _count(f"reason = {quote(reason)} AND {within(YEAR)}")))  # fmt: skip
    out += [
        Feature("calls", "talk_minutes", YEAR, "Minutes spent on calls.",
                f"CAST(SUM(CASE WHEN {within(YEAR)} THEN COALESCE(duration_seconds, 0) ELSE 0 "
                "END) AS DOUBLE) / 60", default=0.0, dtype="float"),
        Feature("calls", "days_since_last_call", "all", "Whole days since the last call.",
                "$as_of_day - MAX(day)", default=None),
    ]  # fmt: skip
    query = "SELECT entity_id, {features} FROM calls_v GROUP BY entity_id"
    return [FeatureView("fv_calls", ("calls",), query, tuple(out))]
