"""What the service holds in memory, and how it is loaded and swapped.

`ServingState.start()` loads in a background thread (so `/livez` answers at once and `/readyz`
only once everything is in): the champion ranker with its offers scored for every profile, the
champion propensity model, the real-time identity matcher, the online store. A watcher polls
the MLflow registry; when `champion` moves, the new models are loaded and scored beside the
old ones and swapped in with one assignment, so requests never wait and never see a mix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from features.errors import NotReadyError
from features.online.store import OnlineStore
from features.settings import Settings
from serving.audit import AuditTrail
from serving.keys import KeyRing
from serving.offers import OfferBook

log = logging.getLogger("cdp.serving")


@dataclass(frozen=True)
class Models:
    """The champions in use, loaded together."""

    offers: OfferBook
    propensity: object
    propensity_version: str
    loaded_at: float


class ServingState:
    """Models, matcher, stores and keys of one service process."""

    def __init__(self, settings: Settings, *, reload_seconds: float = 30.0,
                 on_loaded: Callable[[], object] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.on_loaded = on_loaded  # e.g. serving.runtime.freeze_gc, once the heap is built
        self.reload_seconds = reload_seconds
        self.keys = KeyRing(settings)
        self.audit = AuditTrail(settings)
        self.models: Models | None = None
        self.matcher = None
        self.categories: dict[str, str] = {}
        self.bands: tuple[float, float] = (0.0, 0.0)
        self.error: str | None = None
        self.write_lock = threading.Lock()  # one writer at a time on the online store
        self._local = threading.local()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once models, matcher and store are loaded."""
        return self.models is not None and self.matcher is not None

    def start(self, *, background: bool = True) -> ServingState:
        """Load everything (in a thread unless background=False) and start the watcher."""
        if not background:
            self.load()
            return self
        thread = threading.Thread(target=self._load_then_watch, name="cdp-load", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the watcher."""
        self._stop.set()

    def _load_then_watch(self) -> None:
        try:
            self.load()
        except Exception as exc:  # reported by /readyz; the process stays up to say why
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("loading the service failed")
            return
        if self.on_loaded is not None:
            self.on_loaded()
        while not self._stop.wait(self.reload_seconds):
            try:
                self.reload_if_changed()
            except Exception:
                log.exception("reloading the champions failed; the current ones stay")

    def load(self) -> None:
        """Load the store's catalogue, the matcher and the champions."""
        from features.identity.realtime import RealtimeMatcher

        started = time.perf_counter()
        store = self.store()
        self.categories = dict(store.con.execute("SELECT product_id, category FROM products"))
        self.bands = value_bands(store)
        self.matcher = RealtimeMatcher(self.settings)
        self.models = self._load_models()
        self.score_all()
        log.info("service loaded in %.1fs (ranker v%s, propensity v%s, %d offer lists)",
                 time.perf_counter() - started, self.models.offers.version,
                 self.models.propensity_version, len(self.models.offers.lists))  # fmt: skip

    def _load_models(self) -> Models:
        from training.tracking import load_champion

        ranker, ranker_version = load_champion(self.settings, "nbo_ranker")
        propensity, propensity_version = load_champion(self.settings, "propensity")
        offers = OfferBook.build(ranker, ranker_version, self.categories)
        offers.forget(erased_profiles(self.settings, offers.lists))
        return Models(offers, propensity, propensity_version, time.time())

    def champion_versions(self) -> tuple[str | None, str | None]:
        """The registry's current champion versions (ranker, propensity)."""
        from training.tracking import _client, _version_by_alias

        client = _client(self.settings)
        found = [_version_by_alias(client, name, "champion")
                 for name in ("nbo_ranker", "propensity")]  # fmt: skip
        return tuple(None if v is None else str(v.version) for v in found)  # type: ignore[return-value]

    def reload_if_changed(self) -> bool:
        """Swap in new champions if the registry moved; True if it did."""
        current = self.models
        versions = self.champion_versions()
        if current is not None and versions == (current.offers.version,
                                                current.propensity_version):  # fmt: skip
            return False
        self.models = self._load_models()
        with self.write_lock:
            self.score_all()
        log.info("champions swapped in: ranker v%s, propensity v%s", *versions)
        return True

    def forget_profile(self, profile_id: str) -> None:
        """After an erasure: the matcher and the offer lists must not serve the person (the
        online store no longer has them; these are in memory)."""
        if self.matcher is not None:
            self.matcher.forget_profiles([profile_id])
        if self.models is not None:
            self.models.offers.forget([profile_id])

    # -- per request -----------------------------------------------------------------------------

    def require_ready(self) -> Models:
        """The loaded models, or NotReadyError (503)."""
        models = self.models
        if models is None or self.matcher is None:
            raise NotReadyError(self.error or "the service is still loading; see /readyz")
        return models

    def value_band(self, spend_365d: float | None) -> str:
        """none / low / medium / high: no spend, below the median buyer, up to the top decile,
        the top decile (cut-offs from this store's buyers at load)."""
        if not spend_365d:
            return "none"
        median, top = self.bands
        return "low" if spend_365d < median else "medium" if spend_365d < top else "high"

    def after_events(self, profile_ids: list[str]) -> None:
        """Re-score the profiles events changed, so audiences follow in real time."""
        from serving.activation.scores import score_profiles

        models = self.models
        if models is None:
            return
        score_profiles(self.settings, model=models.propensity,
                       model_version=models.propensity_version, profile_ids=profile_ids,
                       store=self.store())  # fmt: skip

    def score_all(self) -> None:
        """Score every profile with the champion propensity unless the store already holds
        this version's scores (serving.activation.scores)."""
        from serving.activation.scores import read_scored_version, score_profiles
        from serving.activation.tables import prepare_store

        models = self.models
        store = self.store()
        if models is None or read_scored_version(prepare_store(store)) == (
            models.propensity_version
        ):
            return
        report = score_profiles(self.settings, model=models.propensity,
                                model_version=models.propensity_version, store=store)  # fmt: skip
        log.info("scored %d profiles with propensity v%s in %.1fs", report.profiles,
                 models.propensity_version, report.seconds)  # fmt: skip

    def store(self) -> OnlineStore:
        """This thread's online store connection (sqlite3 objects stay in their thread)."""
        store = getattr(self._local, "store", None)
        # `cdp features materialize` swaps in a new file: a new inode means reconnect.
        inode = os.stat(self.settings.online_store_path).st_ino
        if store is not None and self._local.inode != inode:
            self.reopen_store()
            store = None
        if store is None:
            store = OnlineStore(self.settings)
            self._local.inode = inode
            # An acknowledged event must survive a crash (issue #7): full sync on commit.
            store.con.execute("PRAGMA synchronous = FULL")
            self._local.store = store
        return store

    def reopen_store(self) -> None:
        """Drop this thread's connection (after `cdp features materialize` swapped the file)."""
        store = getattr(self._local, "store", None)
        if store is not None:
            with contextlib.suppress(sqlite3.Error):
                store.close()
            self._local.store = None


def erased_profiles(settings: Settings, profile_ids) -> list[str]:
    """Those of `profile_ids` on the erasure block list (features.privacy)."""
    from features.privacy.blocklist import current_blocklist

    blocklist = current_blocklist(settings.home)
    return [p for p in profile_ids if blocklist.is_blocked(p)] if blocklist else []


def value_bands(store: OnlineStore) -> tuple[float, float]:
    """Median and 90th percentile of the last year's spend among buyers."""
    spend = [r[0] for r in store.con.execute(
        'SELECT "rfm__spend__365d" FROM online_features WHERE "rfm__spend__365d" > 0 '
        'ORDER BY 1').fetchall()]  # fmt: skip
    if not spend:
        return (0.0, 0.0)
    return (float(spend[len(spend) // 2]), float(spend[min(len(spend) - 1, len(spend) * 9 // 10)]))
