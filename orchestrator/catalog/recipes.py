"""The settings the built-in experiments share: the CDCN family's training recipe, the NAS
search-and-retrain recipe, and the smoke/quick/paper presets that scale them."""

ELEVEN = tuple(round(0.1 * i, 1) for i in range(11))
#: The quick preset's theta/gamma values: the reference and the papers' 0.7, three seeds each, so
#: the demo (install, data and 6 trials) stays within 15 minutes on 2 cores; four values take ~20
#: minutes, and ``--set grid.theta=[...]`` adds points to the same sweep.
QUICK_GRID = (0.0, 0.7)

#: Shared train_eval settings of the CDCN family (official CDCN training: Adam 1e-4, wd 5e-5,
#: lr halved every 500 epochs, depth MSE + contrastive depth loss); NAS-FAS trains for at most
#: 1300 epochs (the CDCN code's default is 1400).
CDCN_PARAMS = {
    "network": "cdcn",
    "width": 1.0,
    "input_size": 256,
    "frames_per_video": 8,
    "representation": "static",
    "rank_k": 7,
    "loss": "depth",
    "epochs": 1300,
    "lr": 1e-4,
    "lr_step": 500,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "augment": True,
}

#: How a paper-preset trial runs on its GPU: bf16 autocast (fp32 weights, losses and scores) and
#: channels_last convolutions. bf16 rather than fp16: fp32's exponent range, so no loss scaling,
#: and it covers every search step (fp16's scaling covers only first-order PC-DARTS, not DARTS's
#: unrolled or D/T-Meta-NAS's inner steps). It needs native bf16 (NVIDIA Ampere or newer: A100,
#: A10, RTX 30xx and later); on older GPUs give ``--set precision=fp16`` (or ``fp32``).
GPU_SPEED = {"precision": "bf16", "channels_last": True}

#: Presets scale data, width and epochs; they never change what is studied.
ABLATION_PRESETS = {
    "smoke": {
        "data_size": "smoke",
        "width": 0.125,
        "input_size": 32,
        "frames_per_video": 2,
        "epochs": 1,
        "batch_size": 32,
        "lr": 1e-3,
        "lr_step": 0,
        "seeds": 1,
    },
    # The laptop demo: 20 training subjects (fewer do not generalise to new faces), 10 test
    # subjects (intervals need them), lr 1e-3 (2e-3 and above stalls some seeds at the all-zero
    # map of the depth loss's ReLU head), ~180 s a trial on one core. DepthNet on P1, 3 seeds
    # (ACER %, test AUC): 2 frames x 10 epochs 12.2 +- 2.1, 0.957-0.976; 2 x 20 (the same steps
    # as 4 x 10) 9.0 +- 3.2, 0.975-0.989; 2 x 20 halving lr at epoch 10 8.2 +- 1.7, 0.980-0.987;
    # 4 frames x 10 epochs 5.7 +- 2.8, 0.985-0.995 (more frames per video, and scores averaged over
    # 4 of them, as the papers average 8).
    "quick": {
        "data_size": "quick",
        "width": 0.125,
        "input_size": 48,
        "frames_per_video": 4,
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
        "lr_step": 0,
        "seeds": 3,
    },
    "paper": {
        "data_size": "paper",
        "seeds": 1,
        "resources.gpu": 1,
        "resources.cpu": 4,
        **GPU_SPEED,
    },
}


#: Shared nas_search/random_sample settings: NAS-FAS search (Adam 1e-4 / arch 6e-4, batch 10,
#: 60 epochs with 15 frozen), retrain with doubled channels for at most 1300 epochs, the FAS space
#: supervised like CDCN (depth MSE + CDL); the paper preset keeps them. Binary masks belong to
#: the baseline space's DP trials and Auto-FAS, which also retrains at its search width.
NAS_PARAMS = {
    "space": "fas_cd",
    "C": None,  # None: the space's own default (search width, cells, input size)
    "layers": None,
    "input_size": None,
    "search_steps": None,
    "representation": "static",
    "k": 4,
    "search_epochs": 60,
    "warmup_epochs": 15,
    "search_batch_size": 10,
    "split": "random",
    "epochs": 1300,
    "lr": 1e-4,
    "lr_step": 500,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "width": 2.0,
    "loss": "depth",
    "frames_per_video": 8,
    "augment": True,
}
#: The baseline space (and Auto-FAS): pixel-wise binary-mask supervision (CE trials use BCE on
#: the label whatever ``loss`` says).
BINARY = {"loss": "binary"}
NAS_PRESETS = {
    "smoke": {
        "data_size": "smoke",
        "C": 4,
        "layers": 3,
        "input_size": 32,
        "search_epochs": 2,
        "warmup_epochs": 1,
        "search_steps": 2,
        "search_batch_size": 16,
        "epochs": 1,
        "lr": 1e-3,
        "lr_step": 0,
        "batch_size": 32,
        "frames_per_video": 1,
        "seeds": 1,
    },
    "quick": {
        "data_size": "quick",
        "C": 8,
        "layers": 3,
        "input_size": 48,
        "search_epochs": 6,
        "warmup_epochs": 2,
        "search_steps": 20,
        "search_batch_size": 16,
        "epochs": 5,
        "lr": 2e-3,
        "lr_step": 0,
        "batch_size": 32,
        "frames_per_video": 2,
        "seeds": 2,
    },
    "paper": {
        "data_size": "paper",
        "seeds": 1,
        "resources.gpu": 1,
        "resources.cpu": 4,
        **GPU_SPEED,
    },
}
