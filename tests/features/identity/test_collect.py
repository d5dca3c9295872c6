"""Guest orders: a shipping name is the buyer's unless the order's own email says otherwise."""

import pandas as pd
import pytest

from features.identity.buyers import attribute_buyer_names, mentions
from features.identity.records import prepare_records

ROLES = {"record_id": "record_id", "first_name": "first_name", "last_name": "last_name",
         "email": "email"}  # fmt: skip
PLACED = {**ROLES, "postcode": "postcode", "address": "address"}


def _prepare(rows: list[tuple], source: str) -> pd.DataFrame:
    if rows and len(rows[0]) == 6:
        columns = ["record_id", "first_name", "last_name", "email", "postcode", "address"]
        return prepare_records(pd.DataFrame(rows, columns=columns), PLACED, source_name=source)
    frame = pd.DataFrame(rows, columns=["record_id", "first_name", "last_name", "email"])
    return prepare_records(frame, ROLES, source_name=source)


@pytest.mark.parametrize(
    ("user", "first", "surnames", "expected"),
    [
        ("veronica.wilcox", "veronica", ("wilcox",), True),
        ("vwilcox", "veronica", ("wilcox",), True),  # an initial, beside the surname
        ("bill.smith", "william", ("smith",), True),  # a nickname starting a word
        ("farcher86", "cheryl", ("archer",), False),  # 'cher' inside a surname is no name
        ("hburns33", "burns", ("heather", "burns"), False),  # a surname, even in first place
        ("jo.lee", "jo", ("lee",), False),  # too short to tell
        ("pford43", "paula", ("ford",), True),  # her initial beside her surname
        ("ford.p", "paula", ("ford",), True),
        ("pford43", "emily", ("ford",), False),
        ("pford43", "paula", ("fox",), False),  # an initial alone names nobody
        ("pfordham", "paula", ("ford",), False),
    ],
)
def test_an_email_user_part_spells_a_given_name(user, first, surnames, expected):
    assert mentions(user, first, surnames) is expected


def test_a_gift_order_takes_the_name_its_email_is_known_by():
    prepared = {
        "shop_customers": _prepare([("c1", "Kevin", "Blake", "kblake@gmail.com")], "shop"),
        "orders": _prepare(
            [
                ("o1", "Kevin", "Blake", "kblake@gmail.com"),
                ("o2", "Connie", "Blake", "kblake@gmail.com"),  # shipped to his partner
                ("o3", "Connie", "Blake", "connie@example.com"),  # her own order
            ],
            "orders",
        ),
    }
    changed = attribute_buyer_names(prepared)
    orders = prepared["orders"].set_index("record_id")
    assert changed == 1
    assert orders.loc["o2", ["first_name", "last_name"]].tolist() == ["kevin", "blake"]
    assert "kevin" in orders.loc["o2", "first_name_aliases"]
    assert orders.loc["o3", "first_name"] == "connie"  # no other name under her email
    assert prepared["shop_customers"].loc[0, "first_name"] == "kevin"  # accounts never change


def test_a_tie_keeps_the_shipping_name():
    prepared = {
        "orders": _prepare(
            [("o1", "Ann", "Lee", "lee@example.com"), ("o2", "Bob", "Lee", "lee@example.com")],
            "orders",
        )
    }
    assert attribute_buyer_names(prepared) == 0
    assert sorted(prepared["orders"]["first_name"]) == ["ann", "bob"]


def test_orders_without_email_or_other_sources_are_left_alone():
    prepared = {"orders": _prepare([("o1", "Ann", "Lee", None)], "orders")}
    assert attribute_buyer_names(prepared) == 0
    assert attribute_buyer_names({}) == 0


def test_a_tie_goes_to_the_name_the_email_spells():
    prepared = {
        "orders": _prepare(
            [("o1", "Steven", "Singleton", "stevensingleton@gmail.com"),
             ("o2", "Jesse", "Singleton", "stevensingleton@gmail.com")],
            "orders",
        )
    }  # fmt: skip
    assert attribute_buyer_names(prepared) == 1
    assert sorted(prepared["orders"]["first_name"]) == ["steven", "steven"]


def test_the_email_spelling_the_shipping_name_outweighs_a_count():
    prepared = {
        "shop_customers": _prepare([("c1", "Kevin", "Blake", "connie.blake@gmail.com")], "shop"),
        "orders": _prepare([("o1", "Connie", "Blake", "connie.blake@gmail.com")], "orders"),
    }
    assert attribute_buyer_names(prepared) == 0
    assert prepared["orders"].loc[0, "first_name"] == "connie"


def test_a_gift_order_takes_the_housemate_its_email_spells():
    """No other record holds the order's email, but it spells the given name of the one other
    person at the shipping address: that housemate bought it."""
    place = ("30307", "78323 Adams Dr Apt 28")
    prepared = {
        "shop_customers": _prepare(
            [("c1", "Veronica", "Wilcox", "vw@comcast.net", *place),
             ("c2", "David", "Wilcox", "dw@comcast.net", *place),
             ("c3", "Veronica", "Stone", "vs@comcast.net", "99999", "1 Main St")],
            "shop",
        ),
        "orders": _prepare(
            [("o1", "David", "Wilcox", "veronica.wilcox@yahoo.com", *place),  # a gift
             ("o2", "David", "Wilcox", "david.wilcox@yahoo.com", *place),  # his own
             ("o3", "David", "Wilcox", "wilcox.family@yahoo.com", *place),  # spells nobody
             ("o4", "Ann", "Wilcox", "veronica.w@yahoo.com", "99999", "1 Main St")],  # to Ann
            "orders",
        ),
    }  # fmt: skip
    assert attribute_buyer_names(prepared) == 2
    orders = prepared["orders"].set_index("record_id")
    assert orders.loc["o1", ["first_name", "last_name"]].tolist() == ["veronica", "wilcox"]
    assert orders.loc[["o2", "o3"], "first_name"].tolist() == ["david", "david"]
    # the Veronica living there, with her own surname
    assert orders.loc["o4", ["first_name", "last_name"]].tolist() == ["veronica", "stone"]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("veronica.wilcox", ("veronica", "wilcox")),
        ("wilcox_veronica83", ("veronica", "wilcox")),  # surname first, digits dropped
        ("veronicawilcox", ("veronica", "wilcox")),  # one word: the one place it splits
        ("vwilcox", None),  # an initial is not a given name
        ("hiker.veronica", None),  # 'hiker' is nobody's surname here
        ("annemarie", None),  # ann + emarie? anne + marie? both read: ambiguous
    ],
)
def test_an_email_user_part_is_split_with_the_datas_own_names(user, expected):
    from features.identity.buyers import split_user_part

    firsts, lasts = {"veronica", "ann", "anne"}, {"wilcox", "marie", "emarie"}
    assert split_user_part(user, firsts, lasts) == expected


def test_a_record_with_only_an_email_gets_the_name_its_email_spells():
    from features.identity.buyers import names_from_emails

    prepared = {
        "shop_customers": _prepare(
            [("c1", "Veronica", "Wilcox", "vw@comcast.net"),
             ("c2", "Todd", "Hull", "todd.hull@gmail.com")],
            "shop",
        ),
        "email_subscribers": _prepare(
            [("s1", None, None, "veronica.wilcox@yahoo.com"),  # named from its email
             ("s2", None, None, "todd.hull@gmail.com"),  # shares an email: tied already
             ("s3", None, None, "xq.zz@yahoo.com"),  # spells nobody known
             ("s4", "Vera", None, "hull.todd@aol.com")],  # has a name of its own
            "subscribers",
        ),
    }  # fmt: skip
    assert names_from_emails(prepared) == 1
    subs = prepared["email_subscribers"].set_index("record_id")
    assert subs.loc["s1", ["first_name", "last_name"]].tolist() == ["veronica", "wilcox"]
    assert "veronica" in subs.loc["s1", "first_name_aliases"]
    assert subs.loc[["s2", "s3"], "first_name"].isna().all()
    assert subs.loc["s4", ["first_name", "last_name"]].tolist() == ["vera", None]


def test_a_given_name_without_a_surname_gets_the_surname_its_email_spells_beside_it():
    from features.identity.buyers import names_from_emails

    prepared = {
        "shop_customers": _prepare([("c1", "Travis", "Bradley", "tb@cox.net")], "shop"),
        "email_subscribers": _prepare(
            [("s1", "Travis", None, "travis.bradley@yahoo.com"),
             ("s2", "Ann", None, "travis.bradley@aol.com")],  # not her given name
            "subscribers",
        ),
    }  # fmt: skip
    assert names_from_emails(prepared) == 1
    subs = prepared["email_subscribers"].set_index("record_id")
    assert subs.loc["s1", "last_name"] == "bradley"
    assert subs.loc["s2", "last_name"] is None


def test_a_gift_order_takes_the_given_name_its_email_spells_when_no_housemate_has_it():
    """scott.lewis@ on an order shipped to Larry Lewis: Scott bought it, though no record names
    a Scott at the address. A word the data writes more often as a surname (a swapped record
    makes 'jones' a given name once) is not read as a given name."""
    prepared = {
        "shop_customers": _prepare(
            [("c1", "Scott", "Hale", "sh@x.com"), ("c2", "Laurence", "Lewis", "ll@x.com"),
             ("c3", "Ann", "Jones", "aj@x.com"), ("c4", "Bob", "Jones", "bj@x.com"),
             ("c5", "Jones", "Tim", "jt@x.com"), ("c6", "Ann", "Gray", "ag@x.com"),
             ("c7", "Kelly", "Page", "kp@x.com")],
            "shop",
        ),
        "orders": _prepare(
            [("o1", "Larry", "Lewis", "scott.lewis@hotmail.com"),  # a gift from Scott
             ("o2", "Larry", "Lewis", "lewis.larry@hotmail.com"),  # his own
             ("o3", "Kelly", "Tran", "kjones@gmail.com"),  # 'jones' is a surname here
             ("o4", "Larry", "Gray", "anngraylaurence@x.com"),  # spells Ann and Laurence
             ("o5", "Laurence", "Lewis", "larry.lewis@x.com")],  # his nickname
            "orders",
        ),
    }  # fmt: skip
    assert attribute_buyer_names(prepared) == 1
    orders = prepared["orders"].set_index("record_id")
    assert orders.loc["o1", ["first_name", "last_name"]].tolist() == ["scott", "lewis"]
    assert orders.loc[["o2", "o3", "o4", "o5"], "first_name"].tolist() == [
        "larry", "kelly", "larry", "laurence",
    ]  # fmt: skip


def test_a_gift_order_takes_the_housemate_whose_initial_and_surname_its_email_spells():
    place = ("12345", "1 Oak St")
    prepared = {
        "shop_customers": _prepare(
            [("c1", "Paula", "Ford", "paula@x.com", *place),
             ("c2", "Emily", "Ford", "emily@x.com", *place),
             ("c3", "Peter", "Ford", "peter@x.com", "99999", "2 Elm St"),
             ("c4", "Pam", "Ford", "pam@x.com", "99999", "2 Elm St")],
            "shop",
        ),
        "orders": _prepare(
            [("o1", "Emily", "Ford", "pford43@gmail.com", *place),  # from Paula
             ("o2", "Emily", "Ford", "eford@gmail.com", *place),  # her own
             ("o3", "Ann", "Ford", "pford@aol.com", "99999", "2 Elm St")],  # Peter? Pam?
            "orders",
        ),
    }  # fmt: skip
    assert attribute_buyer_names(prepared) == 1
    orders = prepared["orders"].set_index("record_id")
    assert orders["first_name"].tolist() == ["paula", "emily", "ann"]
