"""Model settings in YAML, validated by pydantic: unknown keys are rejected, and every error
names the file and the key (`models.yaml: ranker.lightgbm.num_leaves: ...`).

Every key is optional; an empty file (or none) means the defaults below.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.errors import ConfigError
from training.candidates import GENERATORS, CandidateSettings
from training.propensity import Propensity, PropensityParams
from training.ranker import NextBestProduct, RankerParams


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandidatesConfig(_Strict):
    """Candidate generators (see training.candidates)."""

    generators: list[str] = Field(default_factory=lambda: list(GENERATORS))
    per_generator: int = Field(30, ge=1, le=500)
    repurchase_max: int = Field(200, ge=1, le=5000)
    neighbours: int = Field(50, ge=2, le=1000)
    popular_days: int = Field(14, ge=1)
    trending_days: int = Field(7, ge=1)
    halflife_days: float | None = Field(None, gt=0)

    def model_post_init(self, _context: object) -> None:
        unknown = [g for g in self.generators if g not in GENERATORS]
        if unknown or not self.generators:
            raise ValueError(f"generators must be a non-empty subset of {list(GENERATORS)}")


class RankerLgbConfig(_Strict):
    """LightGBM LambdaRank settings."""

    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=1024)
    min_child_samples: int = Field(50, ge=1)
    max_trees: int = Field(400, ge=1, le=5000)
    early_stopping_rounds: int = Field(30, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambdarank_truncation_level: int = Field(20, ge=1)
    threads: int = Field(1, ge=1, le=64)


class RankerConfig(_Strict):
    """The next-best-product model."""

    horizon_days: int = Field(30, ge=1, le=730)
    snapshots: int = Field(4, ge=1, le=52)
    every_days: int = Field(30, ge=1)
    max_customers_per_snapshot: int = Field(5000, ge=10)
    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    lightgbm: RankerLgbConfig = Field(default_factory=RankerLgbConfig)


class PropensityLgbConfig(_Strict):
    """LightGBM binary settings of every propensity target."""

    learning_rate: float = Field(0.02, gt=0, le=1)
    num_leaves: int = Field(4, ge=2, le=1024)
    min_child_samples: int = Field(200, ge=1)
    max_trees: int = Field(500, ge=1, le=10000)
    early_stopping_rounds: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    threads: int = Field(1, ge=1, le=64)


class PropensityConfig(_Strict):
    """The calibrated propensity model."""

    horizon_days: int = Field(90, ge=1, le=730)
    snapshots: int = Field(6, ge=2, le=52)
    every_days: int = Field(30, ge=1)
    min_positives: int = Field(50, ge=1)
    isotonic_min_positives: int = Field(200, ge=1)
    calibration_folds: int = Field(
        2, ge=0, le=20,
        description="Folds (by customer) of the out-of-fold scores that calibrate, pooled over "
        "every snapshot; 0: calibrate on the newest snapshot alone.",
    )  # fmt: skip
    lightgbm: PropensityLgbConfig = Field(default_factory=PropensityLgbConfig)

    def model_post_init(self, _context: object) -> None:
        if self.calibration_folds == 1:
            raise ValueError("calibration_folds must be 0 (the newest snapshot) or at least 2")


class ModelsConfig(_Strict):
    """Everything `cdp train` and `cdp backtest` need to know."""

    seed: int | None = Field(None, description="Default: CDP_SEED.")
    k: int = Field(12, ge=1, le=100)
    cutoff: str | None = Field(
        None, description="Backtest cutoff for `cdp train` (default: last day − longest horizon)."
    )
    ranker: RankerConfig = Field(default_factory=RankerConfig)
    propensity: PropensityConfig = Field(default_factory=PropensityConfig)

    def with_horizon(self, days: int, k: int | None = None) -> ModelsConfig:
        """The same settings with one horizon for both models (what `cdp backtest` asks for)."""
        return self.model_copy(update={
            "k": k or self.k,
            "ranker": self.ranker.model_copy(update={"horizon_days": days}),
            "propensity": self.propensity.model_copy(update={"horizon_days": days}),
        })  # fmt: skip

    def with_split(self, other: ModelsConfig) -> ModelsConfig:
        """These hyperparameters on `other`'s backtest split (cutoff, k and both horizons)."""
        return self.model_copy(update={
            "cutoff": other.cutoff, "k": other.k,
            "ranker": self.ranker.model_copy(update={"horizon_days": other.ranker.horizon_days}),
            "propensity": self.propensity.model_copy(
                update={"horizon_days": other.propensity.horizon_days}),
        })  # fmt: skip

    def build_ranker(self, seed: int) -> NextBestProduct:
        """An unfitted next-best-product model."""
        r = self.ranker
        return NextBestProduct(
            k=self.k, horizon_days=r.horizon_days, snapshots=r.snapshots,
            every_days=r.every_days, max_customers_per_snapshot=r.max_customers_per_snapshot,
            candidates=CandidateSettings(**{**r.candidates.model_dump(),
                                            "generators": tuple(r.candidates.generators)}),
            params=RankerParams(**r.lightgbm.model_dump()), seed=self.seed or seed,
        )  # fmt: skip

    def build_propensity(self, seed: int) -> Propensity:
        """An unfitted propensity model."""
        p = self.propensity
        return Propensity(
            horizon_days=p.horizon_days, snapshots=p.snapshots, every_days=p.every_days,
            min_positives=p.min_positives, isotonic_min_positives=p.isotonic_min_positives,
            calibration_folds=p.calibration_folds,
            params=PropensityParams(**p.lightgbm.model_dump()), seed=self.seed or seed,
        )  # fmt: skip


def load_config(path: Path | None) -> ModelsConfig:
    """Read and validate a YAML config (None: the defaults). Raises ConfigError naming the
    file and each offending key."""
    import yaml

    if path is None:
        return ModelsConfig()
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        return ModelsConfig(**raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "(top level)"
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{key}: {message}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from exc
