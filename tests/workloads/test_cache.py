"""The frame cache: reuse, invalidation, corruption, concurrency, labels and the Dataset."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

import workloads.cache as cache_mod
import workloads.pipeline as pipeline_mod
from workloads.cache import FrameDataset, build_cache
from workloads.frames import VideoDecodeError, sample_clips
from workloads.framestore import HEADER_BYTES, write_entry
from workloads.pipeline import PipelineConfig, face_mask, preprocess_video

T, H, W = 16, 96, 96
EYES = (36, 40, 60, 40)  # box (22, 26, 53, 53): inside the frame

CFG = PipelineConfig(frames_per_video=3, input_size=24, map_size=6, rank_k=4)


def write_video(path: Path, seed: int, t: int = T) -> None:
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    base = rng.integers(0, 200, (H, W, 3), dtype=np.uint8)
    for i in range(t):
        writer.write(np.clip(base.astype(int) + 3 * i, 0, 255).astype(np.uint8))
    writer.release()


def make_manifest(root: Path, n: int = 4, depth: bool = True) -> pd.DataFrame:
    """n videos alternating live/attack, each with an OULU eye annotation; lives get depth."""
    rows = []
    for i in range(n):
        live = i % 2 == 0
        video = root / f"1_1_{i + 1:02d}_{1 if live else 2}.avi"
        write_video(video, seed=i)
        ann = video.with_suffix(".txt")
        ann.write_text("".join(f"{f},{','.join(map(str, EYES))}\n" for f in range(T)))
        dpath = ""
        if depth and live:
            d = np.zeros((T, H, W), np.uint8)
            for f in range(T):
                d[f, :, : W // 2] = 10 * f
                d[f, :, W // 2 :] = 255
            dpath = str(root / f"{video.stem}_depth.npz")
            np.savez_compressed(dpath, depth=d)
        rows.append(
            dict(
                dataset="oulu_npu",
                video_id=f"Train_files/{video.stem}",
                path=str(video),
                subject=i + 1,
                session=1,
                device="1",
                pai="live" if live else "print",
                instrument="live" if live else "print1",
                attack_type="live" if live else "print",
                label=int(live),
                split="train",
                annotation=str(ann),
                depth=dpath,
            )
        )
    return pd.DataFrame(rows)


@pytest.fixture
def manifest(tmp_path: Path) -> pd.DataFrame:
    (tmp_path / "videos").mkdir()
    return make_manifest(tmp_path / "videos")


def count_preprocess(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def counting(row, cfg):
        calls.append(row["video_id"])
        return preprocess_video(row, cfg)

    monkeypatch.setattr(cache_mod, "preprocess_video", counting)
    return calls


def test_same_config_reuses_and_changed_setting_builds_new_dir(
    manifest: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_preprocess(monkeypatch)
    seen: list[tuple[int, int]] = []
    c1 = build_cache(manifest, CFG, tmp_path / "cache", progress=lambda i, n: seen.append((i, n)))
    assert len(calls) == 4 and c1.stats["built"] == 4 and seen[-1] == (4, 4)
    assert c1.directory.name == CFG.key() and len(CFG.key()) == 16
    assert pd.read_json(c1.directory / "meta.json", typ="series")["config"]["rank_k"] == 4
    c2 = build_cache(manifest, CFG, tmp_path / "cache")
    assert len(calls) == 4 and c2.stats == {"built": 0, "rebuilt": 0, "reused": 4}
    images, maps = c2.load(manifest.video_id[0])
    assert images.shape == (3, 3, 24, 24) and images.dtype == np.uint8
    assert maps.shape == (3, 6, 6) and maps.dtype == np.float32
    assert c2.video_ids == list(manifest.video_id)

    other = PipelineConfig(frames_per_video=3, input_size=24, map_size=6, rank_k=5)
    c3 = build_cache(manifest, other, tmp_path / "cache")
    assert c3.directory != c1.directory and len(calls) == 8
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [CFG.key(), other.key()]
    )


def test_key_is_stable_and_sensitive() -> None:
    assert CFG.key() == PipelineConfig(**CFG.fields()).key()
    assert CFG.key() != PipelineConfig(**{**CFG.fields(), "crop_scale": 1.2}).key()
    assert PipelineConfig.from_dict({"rank_k": 4, "lr": 0.1}).rank_k == 4
    with pytest.raises(ValueError, match="representation"):
        PipelineConfig(representation="rgb")  # type: ignore[arg-type]


def test_changed_video_is_rebuilt(manifest: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    build_cache(manifest, CFG, tmp_path / "cache")
    calls = count_preprocess(monkeypatch)
    write_video(Path(manifest.path[1]), seed=99)
    c = build_cache(manifest, CFG, tmp_path / "cache")
    assert calls == [manifest.video_id[1]] and c.stats["built"] == 1


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong_shape"])
def test_corrupt_entry_is_rebuilt(
    manifest: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    c1 = build_cache(manifest, CFG, tmp_path / "cache")
    vid = manifest.video_id[0]
    good = [np.array(a) for a in c1.load(vid)]  # a copy: the entry is damaged in place below
    entry = c1.path(vid)
    if damage == "garbage":
        entry.write_bytes(b"not a zip at all")
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        write_entry(entry, {"images": np.zeros((2, 3, 24, 24), np.uint8), "maps": good[1]})
    calls = count_preprocess(monkeypatch)
    c2 = build_cache(manifest, CFG, tmp_path / "cache")
    assert calls == [vid] and c2.stats["rebuilt"] == 1
    np.testing.assert_array_equal(c2.load(vid)[0], good[0])


def test_entry_corrupted_after_build_is_rebuilt_on_load(
    manifest: pd.DataFrame, tmp_path: Path
) -> None:
    c = build_cache(manifest, CFG, tmp_path / "cache")
    vid = manifest.video_id[2]
    good = [np.array(a) for a in c.load(vid)]  # a copy: the entry is damaged in place below
    entry = c.path(vid)
    raw = bytearray(
        entry.read_bytes()
    )  # flip bytes inside the image data: only the checksum notices
    pos = HEADER_BYTES + 200
    raw[pos : pos + 50] = bytes(255 - b for b in raw[pos : pos + 50])
    entry.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="invalid"):
        images, _ = c.load(vid)
    np.testing.assert_array_equal(images, good[0])


def test_bad_video_propagates_naming_the_file(manifest: pd.DataFrame, tmp_path: Path) -> None:
    Path(manifest.path[3]).write_bytes(b"\x00" * 64)
    with pytest.raises(VideoDecodeError, match=Path(manifest.path[3]).name):
        build_cache(manifest, CFG, tmp_path / "cache")
    Path(manifest.path[3]).unlink()
    with pytest.raises(VideoDecodeError, match="missing"):
        build_cache(manifest, CFG, tmp_path / "cache")


def test_concurrent_builders_agree(manifest: pd.DataFrame, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            build_cache(manifest, CFG, tmp_path / "cache")
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = build_cache(manifest, CFG, tmp_path / "cache")
    assert c.stats["reused"] == 4
    assert not list(c.directory.glob("*.tmp")) and len(list(c.directory.glob("*.frames"))) == 4


def test_labels_binary_depth_and_fallback(
    manifest: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = build_cache(manifest, CFG, tmp_path / "cache")
    assert (binary.load(manifest.video_id[0])[1] == 1).all()  # live: the whole crop is face
    assert (binary.load(manifest.video_id[1])[1] == 0).all()  # attack: zeros

    cfg = PipelineConfig(**{**CFG.fields(), "label": "depth"})
    depth = build_cache(manifest, cfg, tmp_path / "cache")
    maps = depth.load(manifest.video_id[0])[1]
    starts = sample_clips(T, cfg.frames_per_video, cfg.rank_k)
    for m, s in zip(maps, starts, strict=True):  # left half: 10*frame, right half: 255
        np.testing.assert_allclose(m[:, 0], 10 * s / 255, atol=1e-6)
        np.testing.assert_allclose(m[:, -1], 1.0)
    assert (depth.load(manifest.video_id[1])[1] == 0).all()

    no_depth = manifest.assign(depth="")
    monkeypatch.setattr(pipeline_mod, "_warned_no_depth", False)
    with pytest.warns(UserWarning, match="no depth sidecar"):
        maps = preprocess_video(no_depth.iloc[0].to_dict(), cfg)[1]
    assert (maps == 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        preprocess_video(no_depth.iloc[2].to_dict(), cfg)


def test_face_mask_with_crop_scale() -> None:
    mask = face_mask(8, 2.0)
    assert mask.sum() == 16 and mask[2:6, 2:6].all()
    assert face_mask(8, 1.0).all() and face_mask(8, 0.8).all()


def test_frame_dataset(manifest: pd.DataFrame, tmp_path: Path) -> None:
    cache = build_cache(manifest, CFG, tmp_path / "cache")
    subset = manifest.iloc[[3, 0, 1]].set_index(pd.Index([10, 20, 30]))
    ds = FrameDataset(cache, subset)
    assert len(ds) == 9 and ds.video_ids == list(subset.video_id)
    assert list(ds.videos.index) == [0, 1, 2]
    image, label_map, label, v = ds[4]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    assert label_map.shape == (6, 6) and label_map.dtype == torch.float32
    assert label.dtype == torch.int64 and v.dtype == torch.int64
    assert int(v) == 1 and int(label) == 1 and ds.videos.video_id[int(v)] == manifest.video_id[0]
    batch = next(iter(DataLoader(ds, batch_size=9)))
    assert [tuple(b.shape) for b in batch] == [(9, 3, 24, 24), (9, 6, 6), (9,), (9,)]
    assert batch[3].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert batch[2].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]


def test_frame_dataset_flip_moves_image_and_map_together(
    manifest: pd.DataFrame, tmp_path: Path
) -> None:
    cfg = PipelineConfig(**{**CFG.fields(), "label": "depth"})
    ds_plain = FrameDataset(build_cache(manifest, cfg, tmp_path / "c"), manifest.iloc[:1])
    ds_aug = FrameDataset(build_cache(manifest, cfg, tmp_path / "c"), manifest.iloc[:1], True)
    img0, map0, _, _ = ds_plain[0]
    torch.manual_seed(0)
    flipped = 0
    for _ in range(20):
        img, mp, _, _ = ds_aug[0]
        # the map moves with the image: it is flipped exactly when the image's layout is
        if torch.equal(mp, map0.flip(-1)) and not torch.equal(mp, map0):
            flipped += 1
            ref = img0.flip(-1)
        else:
            assert torch.equal(mp, map0)
            ref = img0
        # illumination jitter is monotone per channel: the pixel order survives it
        a, b = img.flatten(1), ref.flatten(1)
        corr = torch.corrcoef(torch.stack([a[0], b[0]]))[0, 1]
        assert corr > 0.8
        assert 0.0 <= img.min() and img.max() <= 1.0
    assert 0 < flipped < 20


def test_illumination_jitter_changes_light_not_content() -> None:
    from workloads.augment import jitter_illumination

    torch.manual_seed(1)
    image = torch.rand(3, 16, 16)
    out = [jitter_illumination(image) for _ in range(20)]
    means = torch.stack([o.mean() for o in out])
    assert means.std() > 0.02  # the light level varies
    ranks = image[0].flatten().argsort()
    for o in out:
        assert torch.all(o[0].flatten()[ranks].diff() >= -1e-6)  # monotone: order kept


def test_frame_limit_samples_only_the_first_frames(manifest: pd.DataFrame) -> None:
    """SiW P1 trains on each video's first frames: a limit moves every sample to them."""
    row = manifest.iloc[1].to_dict()  # frames brighten by 3 levels per frame
    static = PipelineConfig(frames_per_video=3, input_size=24, map_size=6, representation="static")
    limited = PipelineConfig(**{**static.fields(), "frame_limit": 3})
    whole, first = preprocess_video(row, static)[0], preprocess_video(row, limited)[0]
    assert first.astype(float).mean() < whole.astype(float).mean() - 3
    assert limited.key() != static.key()
    with pytest.raises(ValueError, match="frame_limit"):
        PipelineConfig(frame_limit=-1)
