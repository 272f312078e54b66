"""The ``train_eval`` workload: train a network on a fold's train split with pixel-wise
supervision, pick the threshold on dev, evaluate test, return per-video scores.

A video's score is the mean of its predicted map over its sampled frames (higher = bona fide).
Its params are :class:`workloads.train_params.TrainEvalParams`. ``network="genotype"`` retrains a
searched or sampled architecture (``genotype``, a JSON string) at ``width`` times its search channels (default: its space's ``retrain_width``,
2.0 for NAS-FAS's spaces, 1.0 for Auto-FAS); a scalar (``ce``) head is trained with BCE on the
video label and scored by ``sigmoid(logit)``. ``loss="depth"`` builds a depth head (ending with
a ReLU, as CDCN's) trained with MSE + CDL; ``binary`` a head of logits trained with BCE.
"""

from __future__ import annotations

import dataclasses
import io
import math
import random
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from protocols.metrics import compute_metrics
from protocols.protocols import PROTOCOLS, Fold
from search_spaces.discrete import build_network, count_flops
from search_spaces.draw import draw_genotype
from search_spaces.genotypes import Genotype
from search_spaces.nets import NETWORKS, count_parameters
from workloads import checkpointing, distributed
from workloads.base import (
    GENOTYPE_NETWORK,
    SCORE_COLUMNS,
    WORKLOADS,
    DataHandle,
    Report,
    WorkloadDef,
    WorkloadResult,
)
from workloads.cache import FrameDataset, build_cache
from workloads.loading import ordered_batches
from workloads.losses import map_loss, map_score
from workloads.pipeline import PipelineConfig
from workloads.precision import Precision
from workloads.train_params import RetrainParams, TrainEvalParams

TEST_METRICS = ("apcer", "bpcer", "acer", "hter", "eer", "auc")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the trial fails instead of reporting garbage."""


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def device_for_trial() -> torch.device:
    """CUDA when the trial was given a GPU (Ray sets CUDA_VISIBLE_DEVICES), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def genotype_of(params: TrainEvalParams) -> Genotype | None:
    """The genotype a ``network="genotype"`` trial retrains (None for hand-designed nets)."""
    if params.network != GENOTYPE_NETWORK:
        return None
    if params.genotype is None:
        raise KeyError('network="genotype" needs a "genotype" param (a genotype JSON string)')
    return Genotype.from_json(str(params.genotype))


def build_model(params: TrainEvalParams) -> nn.Module:
    """The trial's network. A ``depth`` loss gets a depth head (ending with a ReLU, as CDCN's);
    any other map loss a head of logits. Genotypes retrain at ``width`` times their search ``C``
    (default: the space's ``retrain_width``)."""
    depth_head = params.loss == "depth"
    genotype = genotype_of(params)
    if genotype is not None:
        return build_network(
            genotype,
            C=params.C,
            width=params.width,
            depth_head=depth_head,
            input_size=params.input_size,
        )
    factory = NETWORKS.get(params.network)
    given = {"theta": params.theta, "gamma": params.gamma, "width": params.width}
    kwargs = {k: v for k, v in given.items() if v is not None}
    return factory(**kwargs, input_size=params.input_size, depth_head=depth_head)


def map_size_of(model: nn.Module, input_size: int) -> int:
    """The side of the model's output map, found by one forward pass on a dummy image.

    Scalar (``ce``) heads have no map: the cache still stores labels at the skeleton's map size
    so a search (map supernet) and the retrain of its genotype share one frame cache.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, input_size, input_size))
    model.train(was_training)
    if out.dim() >= 3:
        return int(out.shape[-1])
    space = getattr(model, "space", None)
    return int(space.map_size(input_size)) if space is not None else 1


def supervised_loss(
    kind: str, out: torch.Tensor, maps: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Map heads: pixel-wise ``map_loss``; scalar heads ``(B,)``: BCE with the video label."""
    if out.dim() == 1:
        return F.binary_cross_entropy_with_logits(out, labels.to(out.dtype))
    return map_loss(kind, out, maps)


def frame_score(kind: str, out: torch.Tensor) -> torch.Tensor:
    """Per-frame liveness: the map score, or ``sigmoid(logit)`` for scalar heads."""
    return torch.sigmoid(out) if out.dim() == 1 else map_score(kind, out)


def model_cost(model: nn.Module, input_size: int) -> dict[str, float]:
    """``n_params`` (trainable) and ``flops`` as multiply-adds per image (the papers' "FLOPs")."""
    return {
        "n_params": float(count_parameters(model)),
        "flops": float(count_flops(model, input_size)) / 2.0,
    }


def pipeline_config(params: RetrainParams, input_size: int, map_size: int) -> PipelineConfig:
    return PipelineConfig(
        frames_per_video=params.frames_per_video,
        input_size=input_size,
        map_size=map_size,
        representation=params.representation,
        rank_k=params.rank_k,
        label="depth" if params.loss == "depth" else "binary",
    )


def load_fold(data: DataHandle) -> Fold:
    if data.fold_rows is not None and data.fold_rows.name == data.fold:
        return data.fold_rows
    folds = PROTOCOLS.get(data.protocol).folds(data.data_root)
    for fold in folds:
        if fold.name == data.fold:
            return fold
    raise KeyError(f"protocol {data.protocol!r} has no fold {data.fold!r}")


def threshold_of(params: RetrainParams, fold: Fold) -> str | float:
    """The trial's ``threshold_policy`` param (``fold``/absent: the fold's own policy)."""
    policy = params.threshold_policy
    policy = fold.threshold_policy if policy in ("fold", None) else policy
    if policy in ("dev_eer", "test_eer"):
        return policy
    try:
        return float(policy)
    except (TypeError, ValueError):
        raise ValueError(
            f"threshold_policy={policy!r}; expected fold, dev_eer, test_eer or a number"
        ) from None


def score_videos(
    model: nn.Module, ds: FrameDataset, loss: str, precision: Precision, split: str
) -> pd.DataFrame:
    """Per-video scores: the mean frame score over each video's frames (from the model's
    float32 output whatever its ``precision``)."""
    model.eval()
    sums = np.zeros(len(ds.videos))
    counts = np.zeros(len(ds.videos))
    with torch.no_grad():
        for images, _maps, _labels, vidx in ordered_batches(ds, 64):
            out = model(precision.batch(images)).float()
            s = frame_score(loss, out).double().cpu().numpy()
            np.add.at(sums, vidx.numpy(), s)
            np.add.at(counts, vidx.numpy(), 1)
    videos = ds.videos.reset_index(drop=True)
    return pd.DataFrame(
        {
            "video_id": videos["video_id"],
            "score": sums / np.maximum(counts, 1),
            "label": videos["label"].astype(int),
            "pai": videos["pai"],
            "instrument": videos["instrument"],
            "subject": videos["subject"].astype(int),
            "split": split,
        }
    )[SCORE_COLUMNS]


def train_epoch(
    model, loader, opt, loss_kind, device, epoch, precision: Precision | None = None
) -> tuple[float, int]:
    """One pass over ``loader``: the mean loss over all workers' samples, and this worker's
    sample count (DDP averages the gradients; the loss is averaged here for the report). The
    loss is computed in float32 on the model's output (autocast by ``precision.prepare``)."""
    precision = precision or Precision(device)
    model.train()
    total, n = 0.0, 0
    for images, maps, labels, _vidx in loader:
        images, maps, labels = precision.batch(images), maps.to(device), labels.to(device)
        loss = supervised_loss(loss_kind, model(images).float(), maps, labels)
        if not torch.isfinite(loss):
            raise DivergedError(f"training loss became {loss.item()} at epoch {epoch}")
        opt.zero_grad(set_to_none=True)
        precision.scale(loss).backward()
        precision.step(opt)
        precision.update()
        total += loss.item() * len(images)
        n += len(images)
    loss_sum, count = distributed.sum_over_workers(total, n)
    return loss_sum / max(count, 1), n


def train_eval(params: TrainEvalParams, data: DataHandle, report: Report) -> WorkloadResult | None:
    """Under ``torch.distributed`` every worker trains a DDP replica on its shard of the train
    split (see ``workloads.distributed``); rank 0 alone scores dev/test and returns the result,
    the other ranks return None."""
    gen = seed_everything(params.seed)
    device = distributed.worker_device(device_for_trial())
    precision = Precision.of(params.precision, params.channels_last, device)  # fp16: CUDA only
    loss_kind = params.loss
    fold = load_fold(data)
    model = build_model(params)
    cfg = pipeline_config(params, params.input_size, map_size_of(model, params.input_size))
    cost = model_cost(model, params.input_size)
    precision.prepare(model)  # on the device, its layout, autocast (before DDP wraps it)
    limit = int(fold.train_frame_limit or 0)  # e.g. SiW P1: train on each video's first frames
    whole = [fold.dev, fold.test] if limit else [fold.train, fold.dev, fold.test]
    cache = build_cache(pd.concat(whole), cfg, data.cache_root)
    train_cache = cache
    if limit:
        limited = dataclasses.replace(cfg, frame_limit=limit)
        train_cache = build_cache(fold.train, limited, data.cache_root)
    train_ds = FrameDataset(train_cache, fold.train, augment=params.augment)
    dev_ds = FrameDataset(cache, fold.dev) if len(fold.dev) else None
    test_ds = FrameDataset(cache, fold.test)
    loader = distributed.train_loader(train_ds, params.batch_size, gen, params.seed, device)
    trainer = distributed.wrap_model(model, device)  # DDP when distributed; shares model's params
    opt = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    step = params.lr_step
    sched = torch.optim.lr_scheduler.StepLR(opt, step, gamma=0.5) if step > 0 else None
    dev_scores = None
    samples = 0
    # A resumed trial continues after its checkpoint's epoch (see workloads.checkpointing).
    stateful = {"model": model, "opt": opt, "sched": sched, **precision.stateful()}
    state = checkpointing.load_state(data)
    first = checkpointing.restore(state, stateful, gen) + 1 if state else 1
    start = time.perf_counter() - (float(state.get("train_seconds", 0.0)) if state else 0.0)
    for epoch in range(first, params.epochs + 1):
        distributed.set_epoch(loader, epoch)
        train_loss, seen = train_epoch(trainer, loader, opt, loss_kind, device, epoch, precision)
        samples += seen
        if sched:
            sched.step()
        metrics = {"epoch": epoch, "train_loss": train_loss}
        if sched:  # a constant learning rate is the trial's ``lr`` param, not a curve
            metrics["lr"] = opt.param_groups[0]["lr"]
        if dev_ds is not None and distributed.is_main():
            dev_scores = score_videos(model, dev_ds, loss_kind, precision, "dev")
            dev = compute_metrics(dev_scores, threshold="test_eer")
            metrics.update({"dev_eer": dev["eer"], "dev_auc": dev["auc"]})
        metrics["elapsed_s"] = time.perf_counter() - start
        if checkpointing.due(data, params.checkpoint_every, epoch) and distributed.is_main():
            seconds = metrics["elapsed_s"]
            blob = checkpointing.save_state(epoch, stateful, gen, train_seconds=seconds)
            report(metrics, {checkpointing.STATE_FILE: blob})
        else:
            report(metrics)
    if distributed.is_distributed():
        workers = distributed.gather(
            {
                "rank": distributed.rank(),
                "train_samples": samples,
                "params_digest": distributed.params_digest(model),
            }
        )
        if not distributed.is_main():
            return None  # rank 0 scores dev/test and returns the trial's result
    if dev_scores is None and dev_ds is not None:  # resumed after the last epoch
        dev_scores = score_videos(model, dev_ds, loss_kind, precision, "dev")
    test_scores = score_videos(model, test_ds, loss_kind, precision, "test")
    threshold = threshold_of(params, fold)
    m = compute_metrics(test_scores, dev_scores, threshold=threshold)
    final = {f"test_{k}": float(m[k]) for k in TEST_METRICS}
    final["threshold"] = float(m["threshold"])
    final["test_apcer_pooled"] = float(m["apcer_pooled"])
    if not all(math.isfinite(v) for v in final.values()):
        raise DivergedError(f"non-finite test metrics {final}")
    final.update(cost)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    artifacts = {"model.pt": buf.getvalue()}
    scores = pd.concat([s for s in (dev_scores, test_scores) if s is not None], ignore_index=True)
    info = {
        "threshold_policy": m["threshold_policy"],
        "apcer_per_pai": m["apcer_per_pai"],
        "n_params": int(cost["n_params"]),
        "pipeline": cfg.key(),
        "train_seconds": time.perf_counter() - start,
    }
    if state:
        info["resumed_from_epoch"] = first - 1
    if distributed.is_distributed():
        info.update({"world_size": distributed.world_size(), "workers": workers})
    genotype = genotype_of(params)
    if genotype is not None:
        artifacts["genotype.json"] = genotype.to_json().encode()
        artifacts["genotype.png"] = draw_genotype(genotype)
        info["genotype"] = genotype.to_json(indent=None)
    return WorkloadResult(final, scores, artifacts, info)


def data_config(params: TrainEvalParams) -> PipelineConfig:
    """The frame-cache setting a trial with these params reads (built once by the driver)."""
    map_size = map_size_of(build_model(params), params.input_size)
    return pipeline_config(params, params.input_size, map_size)


WORKLOADS.add("train_eval", WorkloadDef(train_eval, TrainEvalParams, data_config))
