"""Every knob of the synthetic world, with the default that makes it look like real CDP data.

Rates are probabilities in [0, 1]; their meaning (the population they apply to) is stated in the
field description because the tests measure each one from the output files against that
population. `docs/world.md` lists them with the tolerance the tests allow.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


class WorldConfig(BaseModel):
    """Size, seed, time window and every rate of one generated world."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- size, seed, window -----------------------------------------------------------------
    people: int = Field(default=10_000, ge=1, le=20_000_000, description="Number of persons.")
    seed: int = Field(default=42, ge=0, description="Seed of every random draw.")
    start: date = Field(default=date(2024, 1, 1), description="First day of activity.")
    end: date = Field(default=date(2026, 1, 1), description="Day after the last activity.")

    # --- population -------------------------------------------------------------------------
    household_size_weights: tuple[float, float, float, float, float] = Field(
        default=(0.30, 0.34, 0.15, 0.13, 0.08),
        description="Relative frequency of households of 1, 2, 3, 4 and 5 persons.",
    )
    partner_same_surname_rate: Rate = Field(
        default=0.80, description="Partners who share the head's surname."
    )
    twin_rate: Rate = Field(
        default=0.10,
        description="Households with two or more children whose first two children are twins "
        "(same surname, birth date and address, different first names).",
    )
    junior_rate: Rate = Field(
        default=0.05,
        description="Sons in a household with a male head who carry the head's first name.",
    )
    landline_rate: Rate = Field(default=0.30, description="Households sharing a landline.")
    mobile_phone_rate: Rate = Field(default=0.95, description="Persons with a mobile phone.")
    move_rate: Rate = Field(
        default=0.10,
        description="Persons who change address inside the window (whole households, or young "
        "adults leaving home); records written before the move keep the old address.",
    )
    name_change_rate: Rate = Field(
        default=0.03,
        description="Persons whose surname changes by marriage inside the window; records "
        "written before the change keep the maiden name.",
    )
    pre_start_share: Rate = Field(
        default=0.40, description="Persons first seen before `start` (existing customers)."
    )
    first_seen_lookback_days: int = Field(
        default=1095, ge=0, description="How far before `start` existing customers appear."
    )
    mean_lifetime_days: Positive = Field(
        default=1100.0,
        description="Typical time from first seen to churn, after which a person does nothing: "
        "the churn hazard is 1/this per day on average and gamma-distributed across people.",
    )
    mean_orders_per_year: Positive = Field(
        default=2.0, description="Mean purchase rate of an active person (gamma distributed)."
    )
    purchase_rate_shape: Positive = Field(
        default=0.8, description="Gamma shape of the purchase rate; smaller = heavier buyers."
    )
    affinity_concentration: Positive = Field(
        default=0.25,
        description="Dirichlet concentration of category affinities; smaller = fewer favourite "
        "categories per person.",
    )
    price_band_weights: tuple[float, float, float] = Field(
        default=(0.35, 0.45, 0.20), description="Share of low, mid and high price-band persons."
    )

    # --- devices ----------------------------------------------------------------------------
    second_browser_rate: Rate = Field(
        default=0.40, description="Persons who browse from two browsers (two cookie streams)."
    )
    cookie_lifetime_days: Positive = Field(
        default=90.0, description="Mean life of a cookie before the browser gets a new one."
    )
    app_user_rate: Rate = Field(default=0.30, description="Persons who use the mobile app.")
    second_device_rate: Rate = Field(
        default=0.25, description="App users with a second device (new phone or own tablet)."
    )
    reinstall_rate: Rate = Field(
        default=0.15, description="App devices on which the app is reinstalled (new install id)."
    )
    shared_tablet_rate: Rate = Field(
        default=0.15,
        description="Households of two or more persons whose members share one app tablet.",
    )

    # --- source presence --------------------------------------------------------------------
    shop_account_rate: Rate = Field(default=0.65, description="Persons with a shop account.")
    duplicate_account_rate: Rate = Field(
        default=0.04,
        description="Account holders who open a second account later with their other email.",
    )
    guest_checkout_rate: Rate = Field(
        default=0.08, description="Orders of account holders placed as a guest (not logged in)."
    )
    crm_contact_rate: Rate = Field(
        default=0.30, description="Persons with a CRM contact (every caller has one)."
    )
    subscriber_rate: Rate = Field(default=0.50, description="Persons subscribed to email.")
    second_subscription_rate: Rate = Field(
        default=0.05, description="Subscribers with a second subscription under another address."
    )
    subscriber_other_email_rate: Rate = Field(
        default=0.20,
        description="Subscribers with a shop account who subscribe with their other email.",
    )

    # --- identity noise ---------------------------------------------------------------------
    name_typo_rate: Rate = Field(
        default=0.03,
        description="Records (shop, CRM, named subscribers, guest orders) whose first or last "
        "name carries one edit: substitution, deletion or transposition.",
    )
    name_swap_rate: Rate = Field(
        default=0.02, description="Named records whose first and last name are swapped."
    )
    crm_nickname_rate: Rate = Field(
        default=0.25, description="CRM contacts whose first name is a nickname (Bill, Jenny)."
    )
    crm_all_caps_rate: Rate = Field(default=0.10, description="CRM contacts typed in ALL CAPS.")
    crm_email_rate: Rate = Field(default=0.30, description="CRM contacts that hold an email.")
    gmail_dot_variant_rate: Rate = Field(
        default=0.20,
        description="Subscriptions and guest orders typed with a gmail address whose dots differ "
        "from the person's address (j.smith vs jsmith: the same mailbox).",
    )
    email_case_rate: Rate = Field(
        default=0.05, description="Email values written with upper-case letters."
    )
    whitespace_rate: Rate = Field(
        default=0.02,
        description="Emails (and each name, at half this rate) written with stray spaces.",
    )
    address_abbreviation_rate: Rate = Field(
        default=0.30, description="Address lines with the street suffix abbreviated (Ave, St)."
    )
    shop_phone_rate: Rate = Field(default=0.70, description="Shop accounts that hold a phone.")
    shop_birth_date_rate: Rate = Field(
        default=0.40, description="Shop accounts that hold a date of birth."
    )
    crm_phone_rate: Rate = Field(default=0.90, description="CRM contacts that hold a phone.")
    crm_birth_date_rate: Rate = Field(
        default=0.55, description="CRM contacts that hold a date of birth."
    )
    landline_use_rate: Rate = Field(
        default=0.30,
        description="Records (and calls) of a person with a household landline that give the "
        "landline instead of the mobile.",
    )
    missing_address_rate: Rate = Field(
        default=0.08, description="Shop and CRM records without an address."
    )
    subscriber_name_rate: Rate = Field(default=0.35, description="Subscribers who gave their name.")
    subscriber_postcode_rate: Rate = Field(
        default=0.25, description="Subscribers who gave their postcode."
    )
    gift_order_rate: Rate = Field(
        default=0.04,
        description="Orders of people in shared households shipped to another member's name.",
    )

    # --- junk identifiers -------------------------------------------------------------------
    junk_email_rate: Rate = Field(
        default=0.01,
        description="Guest orders and CRM emails holding test@test.com or noemail@example.com.",
    )
    junk_phone_rate: Rate = Field(
        default=0.01, description="Shop and CRM phones holding 0000000000 or 1111111111."
    )
    junk_anonymous_id_rate: Rate = Field(
        default=0.005,
        description="Web events whose anonymous_id is '0', 'null', 'anonymous' or 'undefined'.",
    )
    junk_user_id_rate: Rate = Field(
        default=0.01,
        description="App sessions whose login (identify) event sends user_id '0'; checkout "
        "logins are unaffected.",
    )

    # --- behaviour --------------------------------------------------------------------------
    complement_rate: Rate = Field(
        default=0.40,
        description="Repeat orders whose main category is a complement of the previous order's.",
    )
    extra_lines_mean: Positive = Field(
        default=0.75, description="Mean number of lines an order has besides its first."
    )
    research_views_mean: Positive = Field(
        default=1.0, description="Mean product views of a bought product in the days before."
    )
    web_sessions_per_year: Positive = Field(
        default=1.8, description="Mean browse-only web sessions per active person and year."
    )
    app_sessions_per_year: Positive = Field(
        default=2.5, description="Mean app sessions per active app user and year."
    )
    campaign_interval_days: int = Field(
        default=14, ge=1, description="Days between two email campaigns."
    )
    campaign_target_share: Rate = Field(
        default=0.45, description="Mean share of active subscribers a campaign is sent to."
    )
    email_open_rate: Rate = Field(
        default=0.22, description="Mean probability that a person opens a campaign email."
    )
    email_click_rate: Rate = Field(
        default=0.12, description="Mean probability that an opened email is clicked."
    )
    unsubscribe_rate: Rate = Field(
        default=0.012, description="Probability that an opened email leads to unsubscribing."
    )
    bounce_rate: Rate = Field(
        default=0.02,
        description="Subscribers whose address has a typo in its domain and bounces.",
    )
    click_purchase_rate: Rate = Field(
        default=0.20,
        description="Email clicks followed within days by an order of the promoted category.",
    )
    call_after_order_rate: Rate = Field(
        default=0.15, description="Orders of CRM contacts followed by a call 1-14 days later."
    )
    random_calls_per_year: Positive = Field(
        default=0.20, description="Mean calls per CRM contact and year not tied to an order."
    )
    caller_id_withheld_rate: Rate = Field(default=0.10, description="Calls without a caller id.")
    shop_consent_answer_rate: Rate = Field(
        default=0.60,
        description="Shop accounts that answer each consent question at sign-up.",
    )
    cookie_banner_answer_rate: Rate = Field(
        default=0.25, description="Cookies whose owner answers the advertising cookie banner."
    )
    consent_grant_rate: Rate = Field(
        default=0.60, description="Consent answers that grant (the rest refuse)."
    )
    consent_revocation_rate: Rate = Field(
        default=0.05, description="Granted consents revoked later."
    )

    @model_validator(mode="after")
    def _check_window_and_weights(self) -> WorldConfig:
        if (self.end - self.start).days < 60:
            raise ValueError("end must be at least 60 days after start")
        for name in ("household_size_weights", "price_band_weights"):
            weights = getattr(self, name)
            if min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"{name} must be non-negative with a positive sum")
        return self
