"""Names for the records that lack their own: a guest order's buyer, and names read from emails.

A guest order's shipping name is its recipient's, who is not always the buyer (a gift to a
partner). Dropping it lost more true links than it saved false ones (pairwise F1 0.83 vs 0.89 on
the default world; see docs/identity.md), so it stays, except where the order's own email says
otherwise: when the records sharing that email agree on another name, or the email's user part
spells the given name of another person at the shipping address, that name is the buyer's and
replaces the shipping name (`attribute_buyer_names`). A record without a name whose email user
part spells one ('jane.smith') is given it when no other record holds that email
(`names_from_emails`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from features.identity.canonical import name_aliases
from features.identity.clusters import is_nickname
from features.identity.records import user_part


@lru_cache(maxsize=200_000)  # a buyer's many orders ask the same question
def mentions(local_part: str | None, first_name: str | None, surnames: tuple = ()) -> bool:
    """Whether an email's user part spells a given name: the name itself (three letters or
    more), one of its nicknames starting a word ('bill.smith' for William), or its initial
    beside one of the `surnames` and nothing else ('pford43', 'ford.p' for Paula Ford). The
    `surnames` are taken out first, so a surname is never read as a given name ('hburns' does
    not spell a record whose names are swapped to first name 'burns')."""
    if not isinstance(local_part, str) or not isinstance(first_name, str) or len(first_name) < 3:
        return False
    letters = re.sub(r"[^a-z]+", " ", local_part.lower())
    joined = letters.replace(" ", "")
    initial = first_name[0]
    if any(
        isinstance(s, str) and len(s) >= 3 and joined in (initial + s, s + initial)
        for s in surnames
    ):
        return True
    for surname in surnames:
        if isinstance(surname, str) and len(surname) >= 3:
            letters = letters.replace(surname, " ")
    if first_name in letters:
        return True
    words = letters.split()
    return any(len(n) >= 3 and w.startswith(n) for n in name_aliases(first_name) for w in words)


def attribute_buyer_names(
    prepared: dict[str, pd.DataFrame],
    guest_source: str = "orders",
    voters: dict[str, pd.DataFrame] | None = None,
    name_counts: tuple[pd.Series, pd.Series] | None = None,
) -> int:
    """Give a guest order its buyer's name where the order's email names someone else.

    The email belongs to the buyer; the shipping name is the recipient's. Two kinds of evidence
    say who the buyer is:

    - votes: every record holding an email votes for its (first, last) name, a record of an
      account source (shop, CRM, subscriber) counting twice a shipping name. An order whose
      shipping name has fewer votes under its own email than that email's leading name was
      shipped to someone else; the leading name is the buyer's. A tie for the lead goes to the
      one name the email's user part spells, if exactly one does; else there is no leader.
    - the user part itself: an order whose email spells neither its shipping name nor a leader
      is given the name of the one other person at its address (same postcode and address,
      names from every source) whose given name the user part spells (veronica.wilcox@ on an
      order shipped to David Wilcox, where a Veronica Wilcox lives); failing that, the one
      given name of the data's own names the user part spells, if it is not the shipping
      name nor a nickname of it (scott.lewis@ on an order shipped to Larry Lewis), with the
      surname the user part spells beside it, else the shipping surname.

    Where the user part spells the shipping name and not the leader's, the shipping name stays:
    the email's own words outweigh a count. Edits `prepared[guest_source]` in place; returns
    how many orders were re-attributed. `voters` (same shape as `prepared`) vote and name
    housemates without being edited: the records already linked, when only new ones are being
    prepared; `name_counts` (records per given name, per surname) then stand for the data's
    own names in place of the voting records' (features.identity.neighbours).
    """
    orders = prepared.get(guest_source)
    if orders is None or orders.empty or "email" not in orders.columns:
        return 0
    voting = [*prepared.items(), *(voters or {}).items()]
    local = user_part(orders["email"])
    spells_shipping = np.array([
        mentions(u, f, (last,))
        for u, f, last in zip(local, orders["first_name"], orders["last_name"], strict=True)
    ])  # fmt: skip
    buyer = _voted_buyers(orders, voting, guest_source, spells_shipping)
    unresolved = buyer["first_name"].isna().to_numpy() & ~spells_shipping
    housemates = _housemate_buyers(orders[unresolved], voting)
    buyer.loc[housemates.index, ["first_name", "last_name"]] = housemates.to_numpy()
    unresolved = buyer["first_name"].isna().to_numpy() & ~spells_shipping
    spelled = _spelled_buyers(orders[unresolved], voting, name_counts)
    buyer.loc[spelled.index, ["first_name", "last_name"]] = spelled.to_numpy()
    replace = (
        orders["first_name"].notna().to_numpy()
        & buyer["first_name"].notna().to_numpy()
        & (orders["first_name"].to_numpy() != buyer["first_name"].to_numpy())
    )
    rows = orders.index[replace]
    orders.loc[rows, "first_name"] = buyer.loc[rows, "first_name"].to_numpy()
    orders.loc[rows, "last_name"] = buyer.loc[rows, "last_name"].replace("", None).to_numpy()
    orders.loc[rows, "first_name_aliases"] = pd.Series(
        [list(name_aliases(n)) for n in orders.loc[rows, "first_name"]], index=rows, dtype=object
    )
    return int(replace.sum())


def _voted_buyers(
    orders: pd.DataFrame, voting: list, guest_source: str, spells_shipping: np.ndarray
) -> pd.DataFrame:
    """(first_name, last_name) per order of the buyer its email's votes name, or missing."""
    none = pd.DataFrame({"first_name": None, "last_name": None}, index=orders.index, dtype=object)
    votes = []
    for source, frame in voting:
        if "email" not in frame.columns or frame.empty:
            continue
        named = frame[frame["email"].notna() & frame["first_name"].notna()]
        weight = 1 if source == guest_source else 2
        votes.append(named[["email", "first_name", "last_name"]].assign(weight=weight))
    if not votes:
        return none
    # Grouped and joined on integer codes of the three names (shared by votes and orders):
    # pandas groups a million rows of strings several times slower than of integers.
    names = ["email", "first_name", "last_name"]
    votes = pd.concat(votes, ignore_index=True).fillna({"last_name": ""})
    shipped = orders[names].fillna({"last_name": ""})
    uniques, coded_votes, coded_shipped = {}, {}, {}
    for column in names:
        codes, uniques[column] = pd.factorize(
            np.concatenate([votes[column].to_numpy(object), shipped[column].to_numpy(object)])
        )
        coded_votes[column], coded_shipped[column] = codes[: len(votes)], codes[len(votes) :]
    tally = (
        pd.DataFrame({**coded_votes, "weight": votes["weight"].to_numpy()})
        .groupby(names, sort=True)["weight"]
        .sum()
        .reset_index()
    )
    # The leading name per email: most votes; among names tied for the lead, the one the
    # email's user part spells if exactly one does (order only makes the choice repeatable);
    # otherwise no leader.
    # (Asked only where an email carries two names or more: with one, the leader is every
    # order's own name and there is nothing to decide.)
    several = (tally.groupby("email")["first_name"].transform("size") > 1).to_numpy()
    tally["spelled"] = False
    asked = tally[several]
    tally.loc[several, "spelled"] = np.array([
        mentions(e.split("@")[0], f, (last,))
        for e, f, last in zip(uniques["email"][asked["email"]],
                              uniques["first_name"][asked["first_name"]],
                              uniques["last_name"][asked["last_name"]], strict=True)
    ], dtype=bool)  # fmt: skip
    top_weight = tally.groupby("email")["weight"].transform("max")
    tied = tally[tally["weight"] == top_weight]
    count = tied.groupby("email")["weight"].transform("size")
    spelled = tied.groupby("email")["spelled"].transform("sum")
    lead = tied[(count == 1) | (tied["spelled"] & (spelled == 1))]
    lead = lead.drop_duplicates("email").set_index("email")
    shipped = pd.DataFrame(coded_shipped)  # code -1: missing, which no vote holds
    own = shipped.merge(tally, on=names, how="left")["weight"]
    leader = shipped[["email"]].merge(lead, left_on="email", right_index=True, how="left")
    own, lead_weight = own.fillna(0).to_numpy(), leader["weight"].fillna(0).to_numpy()
    spelled = leader["spelled"].eq(True).to_numpy()
    # Fewer votes than the leader, or as many where the user part spells the leader only.
    take = leader["weight"].notna().to_numpy() & (
        (own < lead_weight) | ((own == lead_weight) & spelled & ~spells_shipping)
    )
    take &= ~(spells_shipping & ~spelled)
    for column in ("first_name", "last_name"):
        none.loc[take, column] = uniques[column][leader.loc[take, column].to_numpy(np.int64)]
    return none


def _spelled_buyers(
    orders: pd.DataFrame, voting: list, name_counts: tuple[pd.Series, pd.Series] | None = None
) -> pd.DataFrame:
    """(first_name, last_name) of the buyer each order's email user part names, where it spells
    exactly one given name (of at least three letters, none inside another) of the data's own
    names, other than the shipping name and its nicknames. A given name is a word the data
    writes more often as a given name than as a surname."""
    empty = pd.DataFrame(columns=["first_name", "last_name"])
    orders = orders[orders["email"].notna() & orders["first_name"].notna()]
    if orders.empty:
        return empty
    if name_counts is None:
        frames = [f for _, f in voting if not f.empty and "first_name" in f.columns]
        as_first = pd.concat([f["first_name"] for f in frames]).value_counts()
        as_last = pd.concat([f["last_name"] for f in frames if "last_name" in f]).value_counts()
    else:
        as_first, as_last = name_counts
    lasts = set(as_last.index)
    # A word written more often as a surname than as a given name is read as a surname (a
    # record with its names swapped puts 'jones' among the given names).
    given = as_first[as_first > as_last.reindex(as_first.index).fillna(0)]
    firsts = set(given.index)
    found = {}
    for row, email, first, surname in zip(
        orders.index, orders["email"], orders["first_name"], orders["last_name"], strict=True
    ):
        user = email.split("@")[0]
        letters = re.sub(r"[^a-z]+", " ", user.lower())
        if isinstance(surname, str) and len(surname) >= 3:
            letters = letters.replace(surname, " ")
        spelled = set()
        for word in letters.split():  # given names start or end a word: trailsamantha70
            ends = [word[:k] for k in range(3, len(word) + 1)]
            ends += [word[k:] for k in range(1, len(word) - 2)]
            spelled |= {n for n in ends if n in firsts}
        spelled = {n for n in spelled if not any(n != m and n in m for m in spelled)}
        if len(spelled) != 1:
            continue
        [name] = spelled
        if name == first or is_nickname(name, first):
            continue
        split = split_user_part(user, firsts, lasts)
        found[row] = (name, split[1] if split and split[0] == name else surname)
    if not found:
        return empty
    return pd.DataFrame.from_dict(found, orient="index", columns=["first_name", "last_name"])


def _housemate_buyers(orders: pd.DataFrame, voting: list) -> pd.DataFrame:
    """(first_name, last_name) of the one housemate each order's email user part spells."""
    wanted = ["first_name", "last_name", "postcode", "address"]
    if orders.empty or not set(wanted) <= set(orders.columns):
        return pd.DataFrame(columns=["first_name", "last_name"])
    places = orders[orders["email"].notna() & orders["address"].notna()]
    names = pd.concat(
        [f[wanted] for _, f in voting if set(wanted) <= set(f.columns) and not f.empty],
        ignore_index=True,
    ).dropna(subset=["first_name", "address"])
    names = names[names["postcode"].isin(set(places["postcode"].dropna()))]
    names = names.fillna({"last_name": "", "postcode": ""})
    # Per address and given name, its most frequent surname (alphabetical on ties).
    names = (
        names.groupby(["postcode", "address", "first_name", "last_name"], sort=True)
        .size()
        .rename("n")
        .reset_index()
        .sort_values(
            ["postcode", "address", "first_name", "n", "last_name"],
            ascending=[True, True, True, False, True],
            kind="stable",
        )
        .drop_duplicates(["postcode", "address", "first_name"])
    )
    # Each order beside every given name at its address, then the ones its user part spells.
    pairs = (
        places[["email", "first_name", "last_name", "postcode", "address"]]
        .fillna({"postcode": ""})
        .rename_axis("row")
        .reset_index()
        .merge(names, on=["postcode", "address"], suffixes=("", "_there"))
    )
    pairs = pairs[pairs["first_name_there"] != pairs["first_name"]]
    spelled = [
        mentions(email.split("@")[0], there, (surname, last))
        for email, there, surname, last in zip(
            pairs["email"], pairs["first_name_there"], pairs["last_name"],
            pairs["last_name_there"], strict=True,
        )
    ]  # fmt: skip
    # A boolean Series, not a list: an empty list would select no columns instead of no rows.
    pairs = pairs[pd.Series(spelled, index=pairs.index, dtype=bool)]
    one = pairs.groupby("row")["first_name_there"].transform("size") == 1
    found = pairs[one].set_index("row")[["first_name_there", "last_name_there"]]
    return found.set_axis(["first_name", "last_name"], axis=1)


def names_from_emails(
    prepared: dict[str, pd.DataFrame],
    others: dict[str, pd.DataFrame] | None = None,
    vocabulary: tuple[set[str], set[str]] | None = None,
) -> int:
    """Give a record with an email and no name the name its email's user part spells.

    Many people's addresses are their names (veronica.wilcox@, wilcox.veronica@,
    veronicawilcox@); a subscription holding nothing else has no other evidence. The user part
    is read with the data's own names: split at punctuation or digits into a given name and a
    surname that other records carry (either order), or, written as one word, at the one place
    where a known given name ends and a known surname begins. Only records whose email no other
    record holds are named: those sharing one are already tied to it, and a guessed name must
    never question that tie. Nothing is guessed when the split is ambiguous. A record with a
    given name and no surname gets the surname its user part spells beside that given name
    (travis.bradley@ for a subscriber who gave 'Travis'). Edits `prepared` in place and returns
    how many records were named; golden records keep showing the names as given.

    `others` (same shape) count as holders of emails and give their names to the vocabulary
    without being edited, and `vocabulary` adds (given names, surnames): an incremental run
    passes the records already linked.
    """
    frames = [f for f in [*prepared.values(), *(others or {}).values()] if not f.empty]
    if not any("email" in f.columns for f in prepared.values()):
        return 0
    firsts = set().union(*(set(f["first_name"].dropna()) for f in frames if "first_name" in f))
    lasts = set().union(*(set(f["last_name"].dropna()) for f in frames if "last_name" in f))
    if vocabulary is not None:
        firsts, lasts = firsts | vocabulary[0], lasts | vocabulary[1]
    firsts = {n for n in firsts if len(n) >= 2}
    lasts = {n for n in lasts if len(n) >= 2}
    counts = pd.concat([f["email"] for f in frames if "email" in f.columns]).value_counts()
    named = 0
    for frame in prepared.values():
        if frame.empty or not {"email", "first_name", "last_name"} <= set(frame.columns):
            continue
        todo = (
            frame["first_name"].isna()
            & frame["last_name"].isna()
            & (frame["email"].map(counts).fillna(0) == 1)
        )
        rows = frame.index[todo.to_numpy()]
        found = [split_user_part(e.split("@")[0], firsts, lasts) for e in frame.loc[rows, "email"]]
        rows = [row for row, names in zip(rows, found, strict=True) if names]
        found = [names for names in found if names]
        if not rows:
            continue
        frame.loc[rows, "first_name"] = [first for first, _ in found]
        frame.loc[rows, "last_name"] = [last for _, last in found]
        frame.loc[rows, "first_name_aliases"] = pd.Series(
            [list(name_aliases(first)) for first, _ in found], index=rows, dtype=object
        )
        named += len(rows)
    for frame in prepared.values():  # a given name without a surname: the surname beside it
        if frame.empty or not {"email", "first_name", "last_name"} <= set(frame.columns):
            continue
        todo = (
            frame["first_name"].notna()
            & frame["last_name"].isna()
            & (frame["email"].map(counts).fillna(0) == 1)
        )
        rows = frame.index[todo.to_numpy()]
        found = [
            split_user_part(e.split("@")[0], {first}, lasts)
            for e, first in zip(frame.loc[rows, "email"], frame.loc[rows, "first_name"],
                                strict=True)
        ]  # fmt: skip
        rows = [row for row, names in zip(rows, found, strict=True) if names]
        if rows:
            frame.loc[rows, "last_name"] = [names[1] for names in found if names]
            named += len(rows)
    return named


def split_user_part(user: str, firsts: set[str], lasts: set[str]) -> tuple[str, str] | None:
    """(given name, surname) an email user part spells, or None (see `names_from_emails`)."""
    words = [w for w in re.split(r"[^a-z]+", user.lower()) if w]
    if len(words) == 2:
        a, b = words
        if a in firsts and b in lasts:
            return a, b
        if b in firsts and a in lasts:
            return b, a
        return None
    if len(words) != 1:
        return None
    word = words[0]
    found = {
        (word[:k], word[k:])
        for k in range(2, len(word) - 1)
        if word[:k] in firsts and word[k:] in lasts
    }
    return found.pop() if len(found) == 1 else None
