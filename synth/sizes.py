"""Named sizes of the synthetic benchmark and the generator version that keys its cache."""

from __future__ import annotations

from dataclasses import dataclass

from protocols.layouts import OULU_USERS as PUBLISHED_OULU_USERS

#: Bump whenever the generated pixels, names or sidecars change: it is part of the cached root name.
GENERATOR_VERSION = 10  # 6-9 named recalibrations measured and not kept (README)


@dataclass(frozen=True)
class LayoutCounts:
    """How much of one non-OULU dataset to write (see ``synth/layouts*.py``).

    ``subjects`` per split (in all, for datasets without splits; None = the published count,
    capped by what the dataset has); ``full_grid`` writes every sensor, session, medium, quality
    and take of each subject, otherwise one cell per subject, cycled, so that every species,
    split and fold a protocol needs is still present.
    """

    subjects: int | None
    full_grid: bool = False

    def __post_init__(self) -> None:
        if self.subjects is not None and self.subjects < 1:
            raise ValueError(f"LayoutCounts.subjects must be >= 1 or None, got {self.subjects}")


#: The data-root folders of the eight non-OULU layouts, in generation order.
LAYOUT_DATASETS = (
    "siw",
    "siw_m",
    "casia_mfsd",
    "replay_attack",
    "msu_mfsd",
    "3dmad",
    "hkbu_mars",
    "casia_surf_3dmask",
)


def _counts(
    subjects: dict[str, int | None], full_grid: bool
) -> tuple[tuple[str, LayoutCounts], ...]:
    return tuple((name, LayoutCounts(subjects[name], full_grid)) for name in LAYOUT_DATASETS)


#: OULU-NPU users per split (first user, count), from the published ranges.
OULU_USERS = {split: (lo, hi - lo + 1) for split, (lo, hi) in PUBLISHED_OULU_USERS.items()}
ALL_PHONES = (1, 2, 3, 4, 5, 6)
ALL_SESSIONS = (1, 2, 3)


@dataclass(frozen=True)
class SynthSize:
    """How much synthetic OULU-NPU to generate; a smaller size takes the first users of each range."""

    n_train_users: int
    n_dev_users: int
    n_test_users: int
    phones: tuple[int, ...] = ALL_PHONES
    sessions: tuple[int, ...] = ALL_SESSIONS
    n_frames: int = 12
    frame_size: int = 64
    fps: float = 30.0
    #: Per-dataset counts of the other eight layouts (dataset folder -> counts); () = none.
    layouts: tuple[tuple[str, LayoutCounts], ...] = ()

    def __post_init__(self) -> None:
        unknown = [name for name, _ in self.layouts if name not in LAYOUT_DATASETS]
        if unknown:
            raise ValueError(f"layouts: unknown dataset(s) {unknown}; valid: {LAYOUT_DATASETS}")
        counts = {"train": self.n_train_users, "dev": self.n_dev_users, "test": self.n_test_users}
        for split, n in counts.items():
            if not 0 <= n <= OULU_USERS[split][1]:
                raise ValueError(f"{split}: {n} users, OULU-NPU has {OULU_USERS[split][1]}")
        if not set(self.phones) <= set(ALL_PHONES) or not self.phones:
            raise ValueError(f"phones must be a non-empty subset of {ALL_PHONES}: {self.phones}")
        if not set(self.sessions) <= set(ALL_SESSIONS) or not self.sessions:
            raise ValueError(f"sessions must be a non-empty subset of {ALL_SESSIONS}")
        if self.n_frames < 1 or self.frame_size < 16 or self.fps <= 0:
            raise ValueError("need n_frames >= 1, frame_size >= 16 and fps > 0")

    def users(self, split: str) -> tuple[int, ...]:
        """The OULU user ids of a split at this size (the first N of the split's range)."""
        first = OULU_USERS[split][0]
        n = {"train": self.n_train_users, "dev": self.n_dev_users, "test": self.n_test_users}[split]
        return tuple(range(first, first + n))

    def layout(self, dataset: str) -> LayoutCounts:
        """The counts of one non-OULU dataset (KeyError naming the ones this size has)."""
        for name, counts in self.layouts:
            if name == dataset:
                return counts
        have = ", ".join(name for name, _ in self.layouts) or "none"
        raise KeyError(f"synthetic size has no counts for dataset {dataset!r}; it has: {have}")

    @property
    def n_videos(self) -> int:
        n_users = self.n_train_users + self.n_dev_users + self.n_test_users
        return n_users * len(self.phones) * len(self.sessions) * 5


_SMOKE = {
    "siw": 2, "siw_m": 2, "casia_mfsd": 2, "replay_attack": 2, "msu_mfsd": 2,
    "3dmad": 3, "hkbu_mars": 2, "casia_surf_3dmask": 2,
}  # fmt: skip
#: CASIA-MFSD, Replay-Attack and MSU-MFSD: 12 subjects per split, so that the three sources of a
#: leave-one-dataset-out fold hold a few hundred videos between them, enough to learn from.
_QUICK = {
    "siw": 4, "siw_m": 3, "casia_mfsd": 12, "replay_attack": 12, "msu_mfsd": 12,
    "3dmad": 5, "hkbu_mars": 4, "casia_surf_3dmask": 4,
}  # fmt: skip
_PAPER = dict.fromkeys(LAYOUT_DATASETS, None)

SYNTH_SIZES: dict[str, SynthSize] = {
    # CI: all 6 phones (P3/P4 need six folds) and 3 sessions (P1 tests on session 3), so few users;
    # the other datasets: a few subjects, one cell of each grid per subject, every species.
    "smoke": SynthSize(
        2, 2, 2, n_frames=12, frame_size=64, fps=30.0, layouts=_counts(_SMOKE, False)
    ),
    # Laptop demo: 20 training users (with fewer, models fail on new faces rather than on
    # attacks), 10 test users (subject-level intervals), frames large enough that print and
    # screen textures survive the phones at a 48 px input.
    "quick": SynthSize(
        20, 5, 10, n_frames=16, frame_size=128, fps=30.0, layouts=_counts(_QUICK, False)
    ),
    # The full published subject counts and grids.
    "paper": SynthSize(
        20, 15, 20, n_frames=32, frame_size=224, fps=30.0, layouts=_counts(_PAPER, True)
    ),
}


def resolve_size(size: str | SynthSize) -> SynthSize:
    """A size object from its name (KeyError listing the valid names) or the object itself."""
    if isinstance(size, SynthSize):
        return size
    try:
        return SYNTH_SIZES[size]
    except KeyError:
        raise KeyError(
            f"unknown synthetic size {size!r}; valid: {', '.join(SYNTH_SIZES)}"
        ) from None
