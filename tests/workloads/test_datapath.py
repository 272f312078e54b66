"""The fast data path computes what the plain one does: cache entries hold exactly the
preprocessed bytes, damaged entries are caught, batch augmentation equals the per-image
definition, and loader workers change nothing (the same batches, and a resumed loader continues)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from tests.workloads.test_cache import CFG, make_manifest
from workloads import distributed
from workloads.augment import Draw, jitter_illumination, to_float, tone_tables
from workloads.cache import FrameDataset, build_cache
from workloads.framestore import HEADER_BYTES, LAYOUT_VERSION, check_header, open_entry, write_entry
from workloads.loading import ShuffledBatches, loader_options
from workloads.pipeline import preprocess_video

SHAPES = {"images": ((2, 3, 5, 5), np.dtype(np.uint8)), "maps": ((2, 3, 3), np.dtype(np.float32))}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    root = tmp_path_factory.mktemp("datapath")
    (root / "videos").mkdir()
    manifest = make_manifest(root / "videos", n=4)
    build_cache(manifest, CFG, root / "cache")
    return manifest, root / "cache"


def _entry(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "images": rng.integers(0, 256, SHAPES["images"][0], dtype=np.uint8),
        "maps": rng.random(SHAPES["maps"][0], dtype=np.float32),
    }
    write_entry(path, arrays)
    return arrays


def test_cache_holds_the_preprocessed_bytes(built) -> None:
    manifest, root = built
    cache = build_cache(manifest, CFG, root)
    assert cache.stats["reused"] == 4
    ds = FrameDataset(cache, manifest)
    for v, row in enumerate(manifest.to_dict("records")):
        images, maps = preprocess_video(row, CFG)
        got_images, got_maps = cache.load(row["video_id"])
        assert got_images.tobytes() == images.tobytes() and got_maps.tobytes() == maps.tobytes()
        idx = np.arange(v * CFG.frames_per_video, (v + 1) * CFG.frames_per_video)
        frames, frame_maps = ds.frames(idx)
        assert frames.tobytes() == images.tobytes() and frame_maps.tobytes() == maps.tobytes()
        batch = ds.batch(idx)  # no augmentation: exactly uint8 / 255
        torch.testing.assert_close(
            batch[0], torch.from_numpy(images).float().div(255), rtol=0, atol=0
        )


def test_damaged_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "e.frames"
    arrays = _entry(path)
    got = open_entry(path, SHAPES)
    assert not isinstance(got, str)
    assert all(np.array_equal(got[k], arrays[k]) for k in arrays)
    raw = path.read_bytes()

    path.write_bytes(
        raw[: HEADER_BYTES + 1] + bytes([raw[HEADER_BYTES + 1] ^ 0xFF]) + raw[HEADER_BYTES + 2 :]
    )
    assert check_header(path, SHAPES) is None  # the cheap check cannot see it ...
    assert "checksum" in open_entry(path, SHAPES)  # ... the first open in a process does
    path.write_bytes(raw[:-7])
    assert "truncated" in check_header(path, SHAPES)
    path.write_bytes(raw[:100])
    assert "truncated" in open_entry(path, SHAPES)
    path.write_bytes(raw.replace(f'"version": {LAYOUT_VERSION}'.encode(), b'"version": 1     '))
    assert "layout version 1" in open_entry(path, SHAPES)
    other = {"images": ((3, 3, 5, 5), np.dtype(np.uint8)), "maps": SHAPES["maps"]}
    path.write_bytes(raw)
    assert "expected" in check_header(path, other)


def _build_in_child(manifest: pd.DataFrame, root: str) -> None:
    build_cache(manifest, CFG, Path(root))


def test_concurrent_builder_processes_leave_valid_entries(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    manifest = make_manifest(tmp_path / "videos", n=2)
    ctx = mp.get_context("fork")
    procs = [
        ctx.Process(target=_build_in_child, args=(manifest, str(tmp_path / "c"))) for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = build_cache(manifest, CFG, tmp_path / "c")
    assert cache.stats["reused"] == 2 and not list(cache.directory.glob(".*.tmp"))
    for row in manifest.to_dict("records"):
        images, _ = cache.load(row["video_id"])  # checksummed: a fresh path in this process
        assert images.tobytes() == preprocess_video(row, CFG)[0].tobytes()


def test_batch_augmentation_equals_the_plain_definition(built) -> None:
    manifest, root = built
    ds = FrameDataset(build_cache(manifest, CFG, root), manifest, augment=True)
    idx = np.array([5, 0, 11, 3, 7, 2])
    images, maps, _, _ = ds.batch(idx, seed=123)
    draw = Draw.sample(len(idx), torch.Generator().manual_seed(123))
    assert 0 < int(draw.flip.sum()) < len(idx)
    plain = FrameDataset(ds.cache, manifest)
    for j, i in enumerate(idx):
        image, label_map, _, _ = plain[int(i)]
        if draw.flip[j]:
            image, label_map = image.flip(-1), label_map.flip(-1)
        expected = jitter_illumination(image, draw.gamma[j], draw.gain[j])
        torch.testing.assert_close(images[j], expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(maps[j], label_map, rtol=0, atol=0)
    again = ds.batch(idx, seed=123)
    assert torch.equal(again[0], images)
    u8 = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16).repeat(3, axis=1)
    tables = tone_tables(torch.tensor([1.0]), torch.ones(1, 3))  # gamma 1, gain 1: identity
    torch.testing.assert_close(to_float(u8, tables), to_float(u8), rtol=0, atol=1e-7)


def _epochs(ds, cpus: int, epochs: int = 2, gen: torch.Generator | None = None) -> list:
    gen = gen or torch.Generator().manual_seed(7)
    loader = distributed.train_loader(ds, 5, gen, 7, torch.device("cpu"), cpus=cpus)
    return [[tuple(t.clone() for t in b) for b in loader] for _ in range(epochs)]


def test_loader_workers_and_resume_draw_the_same_batches(built) -> None:
    manifest, root = built
    ds = FrameDataset(build_cache(manifest, CFG, root), manifest, augment=True)
    global_rng = torch.get_rng_state()
    plain = _epochs(ds, cpus=1)
    assert torch.equal(torch.get_rng_state(), global_rng)  # the loader draws from its own RNG
    workers = _epochs(ds, cpus=2)
    assert [len(e) for e in plain] == [3, 3]  # 12 frames in batches of 5
    for a, b in zip(plain, workers, strict=True):
        for x, y in zip(a, b, strict=True):
            assert all(torch.equal(s, t) for s, t in zip(x, y, strict=True))
    assert not torch.equal(plain[0][0][0], plain[1][0][0])  # a new shuffle and draw per epoch
    # resume: the generator's state after epoch 1 gives epoch 2's batches in a fresh loader
    gen = torch.Generator().manual_seed(7)
    _epochs(ds, cpus=1, epochs=1, gen=gen)
    resumed = _epochs(ds, cpus=2, epochs=1, gen=torch.Generator().set_state(gen.get_state()))
    for x, y in zip(plain[1], resumed[0], strict=True):
        assert all(torch.equal(s, t) for s, t in zip(x, y, strict=True))


def test_loader_options_follow_the_trial_cpus() -> None:
    one = loader_options(torch.device("cpu"), cpus=1)
    assert one == {"num_workers": 0, "pin_memory": False}
    four = loader_options(torch.device("cuda"), cpus=4)
    assert four["num_workers"] == 3 and four["pin_memory"] and four["persistent_workers"]
    assert four["prefetch_factor"] >= 2


def test_sharded_batches_partition_the_padded_order() -> None:
    shards = [ShuffledBatches(11, 2, seed=3, rank=r, world=2) for r in range(2)]
    seen = [np.concatenate([k.indices for k in s]) for s in shards]
    assert [len(x) for x in seen] == [6, 6] and set(np.concatenate(seen)) == set(range(11))
    assert [len(s) for s in shards] == [3, 3]
    seeds = [[k.seed for k in s] for s in shards]
    assert seeds[0] != seeds[1]  # each rank's batches get their own augmentation draws
    shards[0].set_epoch(1)
    assert not np.array_equal(np.concatenate([k.indices for k in shards[0]]), seen[0])
    with pytest.raises(ValueError, match="generator"):
        ShuffledBatches(4, 2)


def test_unaugmented_batches_are_the_plain_shuffling_loaders(built) -> None:
    manifest, root = built
    ds = FrameDataset(build_cache(manifest, CFG, root), manifest)
    plain = DataLoader(ds, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(7))
    before = [[tuple(b) for b in plain] for _ in range(2)]
    for a, b in zip(before, _epochs(ds, cpus=1), strict=True):
        for x, y in zip(a, b, strict=True):
            assert all(torch.equal(s, t) for s, t in zip(x, y, strict=True))
