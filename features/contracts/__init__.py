"""Data contracts, one per source system a CDP receives.

`CONTRACTS` maps a source name (also the file stem `cdp generate` writes and `cdp ingest`
reads) to its `SourceContract`.
"""

from __future__ import annotations

from features.contracts.base import Column, SourceContract
from features.contracts.commerce import ORDER_LINES, ORDERS, PRODUCTS
from features.contracts.events import (
    APP_EVENTS,
    CALL_CENTER_INTERACTIONS,
    CONSENTS,
    EMAIL_EVENTS,
    WEB_EVENTS,
)
from features.contracts.people import CRM_CONTACTS, EMAIL_SUBSCRIBERS, SHOP_CUSTOMERS
from features.errors import UnknownSourceError

CONTRACTS: dict[str, SourceContract] = {
    c.name: c
    for c in (
        SHOP_CUSTOMERS,
        CRM_CONTACTS,
        EMAIL_SUBSCRIBERS,
        PRODUCTS,
        ORDERS,
        ORDER_LINES,
        WEB_EVENTS,
        APP_EVENTS,
        EMAIL_EVENTS,
        CALL_CENTER_INTERACTIONS,
        CONSENTS,
    )
}


def get_contract(source: str) -> SourceContract:
    """The contract of `source`; raises UnknownSourceError listing the known sources."""
    try:
        return CONTRACTS[source]
    except KeyError:
        known = ", ".join(CONTRACTS)
        raise UnknownSourceError(f"unknown source '{source}'; known sources: {known}") from None


__all__ = ["CONTRACTS", "Column", "SourceContract", "get_contract"]
