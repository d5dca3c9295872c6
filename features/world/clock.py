"""The world's calendar: time as float days since `start`, retail seasonality and time of day.

Simulation works in float days relative to `start` (negative = before the window) and converts to
int64 microseconds only when writing. Activity is not uniform in time: shoppers buy more around
Black Friday and in December, a little more at weekends, and mostly in US evenings, which is the
early UTC morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

DAY_US = 86_400_000_000
NULL_US = np.iinfo(np.int64).min
NULL_DAY = np.iinfo(np.int32).min

# Relative activity per UTC hour for a US audience (evening Eastern/Pacific = 00-05 UTC).
_HOURLY = np.array(
    [1.30, 1.30, 1.20, 1.00, 0.80, 0.50, 0.30, 0.20, 0.15, 0.15, 0.20, 0.35,
     0.60, 0.80, 0.95, 1.00, 1.05, 1.05, 1.05, 1.10, 1.15, 1.20, 1.25, 1.30]
)  # fmt: skip


def _find_thanksgiving(year: int) -> date:
    november_first = date(year, 11, 1)
    first_thursday = 1 + (3 - november_first.weekday()) % 7
    return date(year, 11, first_thursday + 21)


def _build_daily_intensity(start: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative retail activity of each day (holiday season, Black Friday week, weekends), and
    whether the day is in a sale week (Black Friday to Cyber Monday)."""
    calendar = np.arange(np.datetime64(start, "D"), np.datetime64(start, "D") + days)
    month = calendar.astype("datetime64[M]").astype(np.int64) % 12
    day_of_month = (calendar - calendar.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = (calendar.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weight = np.ones(days)
    weight[weekday >= 5] *= 1.10
    weight[(month == 11) & (day_of_month <= 20)] *= 1.50
    weight[(month == 11) & (day_of_month > 22)] *= 0.80
    weight[month == 0] *= 1.10  # new-year resolutions and winter sales
    sale = np.zeros(days, dtype=bool)
    for year in range(start.year, start.year + days // 365 + 2):
        black_friday = np.datetime64(_find_thanksgiving(year) + timedelta(days=1), "D")
        cyber_week = (calendar >= black_friday) & (calendar <= black_friday + 3)
        weight[cyber_week] *= 2.5
        sale |= cyber_week
    return weight, sale


@dataclass(frozen=True)
class Clock:
    """Converts between float days and timestamps and draws seasonal times of activity."""

    start: date
    horizon: int
    lookback: int
    cumulative: np.ndarray  # integral of the daily intensity at whole days 0..horizon
    month_table: np.ndarray  # month (0-11) of whole days -lookback..horizon
    sale: np.ndarray  # whole days 0..horizon-1 that are in a sale week

    @property
    def start_us(self) -> int:
        """`start` in microseconds since the Unix epoch."""
        moment = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return int(moment.timestamp()) * 1_000_000

    @property
    def start_epoch_day(self) -> int:
        """`start` in days since the Unix epoch (what date32 stores)."""
        return int(np.datetime64(self.start, "D").astype(np.int64))

    def month(self, days: np.ndarray) -> np.ndarray:
        """Calendar month (0 = January) of float days."""
        index = np.clip(
            np.floor(days).astype(np.int64) + self.lookback, 0, len(self.month_table) - 1
        )
        return self.month_table[index]

    def on_sale(self, days: np.ndarray) -> np.ndarray:
        """Whether float days fall in a sale week."""
        return self.sale[np.clip(np.floor(days).astype(np.int64), 0, self.horizon - 1)]

    def to_us(self, days: np.ndarray) -> np.ndarray:
        """Float days to int64 microseconds since the epoch, truncated to milliseconds."""
        millis = np.floor(np.asarray(days, dtype=np.float64) * 86_400_000.0).astype(np.int64)
        return self.start_us + millis * 1000

    def exposure(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Seasonal exposure between float days lo and hi (equals hi - lo on average)."""
        grid = np.arange(self.horizon + 1)
        lo = np.clip(lo, 0, self.horizon)
        hi = np.clip(hi, 0, self.horizon)
        return np.maximum(
            np.interp(hi, grid, self.cumulative) - np.interp(lo, grid, self.cumulative), 0
        )

    def draw_times(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """One float day per row in [lo, hi), following the seasonal and hourly pattern."""
        grid = np.arange(self.horizon + 1, dtype=np.float64)
        lo = np.clip(np.asarray(lo, dtype=np.float64), 0, self.horizon)
        hi = np.clip(np.asarray(hi, dtype=np.float64), 0, self.horizon)
        level = rng.uniform(
            np.interp(lo, grid, self.cumulative), np.interp(hi, grid, self.cumulative)
        )
        smooth = np.interp(level, self.cumulative, grid)
        hour = rng.choice(24, size=len(lo), p=_HOURLY / _HOURLY.sum())
        timed = np.floor(smooth) + (hour + rng.random(len(lo))) / 24.0
        # Near the window's edges the hourly draw may leave [lo, hi); keep the smooth draw there.
        return np.where(
            (timed >= lo) & (timed < hi), timed, np.minimum(smooth, np.nextafter(hi, lo))
        )


def build_clock(start: date, end: date, lookback: int) -> Clock:
    """The calendar of a window [start, end) with month lookups back to `lookback` days before."""
    horizon = (end - start).days
    weight, sale = _build_daily_intensity(start, horizon)
    cumulative = np.concatenate([[0.0], np.cumsum(weight / weight.mean())])
    first = np.datetime64(start, "D") - lookback
    calendar = np.arange(first, np.datetime64(end, "D") + 1)
    month_table = (calendar.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int8)
    return Clock(start, horizon, lookback, cumulative, month_table, sale)
