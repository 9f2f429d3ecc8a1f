#!/usr/bin/python3
"""Train the cloud UNet on patches dumped by make-dataset.ts and export the
ONNX model the repository ships (plus its model card).

    /usr/bin/python3 actors/tile/model/train.py --train DIR --val DIR \
        --out actors/tile/model/cloud-unet.onnx

Patch folders (make-dataset.ts): meta.json {patch, count, seeds, ...},
bt.f32 (count·patch² float32 LE, K, NaN = no data) and cloud.u8 (same shape,
0 clear, 1 cloud, 255 no data). The validation folder must come from other
generator seeds than the training one: its IoU is the held-out figure.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ inside the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import BT_CENTRE_K, BT_SPREAD_K, CHANNELS, CloudUNet, receptive_radius  # noqa: E402

CLEAR, CLOUD, NODATA = 0, 1, 255


def load_patches(folder):
    with open(os.path.join(folder, 'meta.json')) as f:
        meta = json.load(f)
    p, n = meta['patch'], meta['count']
    bt = np.fromfile(os.path.join(folder, 'bt.f32'), dtype='<f4')
    cloud = np.fromfile(os.path.join(folder, 'cloud.u8'), dtype=np.uint8)
    if bt.size != n * p * p or cloud.size != n * p * p:
        raise SystemExit(f'{folder}: expected {n} patches of {p}², got {bt.size} BT and {cloud.size} mask values')
    return meta, torch.from_numpy(bt.reshape(n, 1, p, p).copy()), torch.from_numpy(cloud.reshape(n, 1, p, p).copy())


def seed_ranges(seeds):
    """[1, 2, 3, 7] → '1-3,7' (the form make-dataset.ts takes)."""
    out, seeds = [], sorted(seeds)
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        out.append(str(seeds[i]) if i == j else f'{seeds[i]}-{seeds[j]}')
        i = j + 1
    return ','.join(out)


def augment(bt, cloud, gen):
    """Random flips and quarter turns: cloud fields have no preferred orientation."""
    k = int(torch.randint(0, 4, (1,), generator=gen))
    bt, cloud = torch.rot90(bt, k, (2, 3)), torch.rot90(cloud, k, (2, 3))
    if bool(torch.randint(0, 2, (1,), generator=gen)):
        bt, cloud = torch.flip(bt, (3,)), torch.flip(cloud, (3,))
    return bt, cloud


def masked_bce(logit, cloud):
    valid = cloud != NODATA
    target = (cloud == CLOUD).to(logit.dtype)
    loss = F.binary_cross_entropy_with_logits(logit, target, reduction='none')
    return (loss * valid).sum() / valid.sum().clamp(min=1)


def soft_iou_loss(logit, cloud):
    """1 - soft IoU of the cloud class over the batch's valid pixels: the
    score we report, which BCE alone (an accuracy loss) does not aim at."""
    valid = (cloud != NODATA).to(logit.dtype)
    p = torch.sigmoid(logit) * valid
    y = (cloud == CLOUD).to(logit.dtype)
    inter = (p * y).sum()
    return 1 - inter / (p.sum() + y.sum() - inter).clamp(min=1)


def loss_fn(logit, cloud, iou_weight):
    return masked_bce(logit, cloud) + iou_weight * soft_iou_loss(logit, cloud)


@torch.no_grad()
def confusion(model, bt, cloud, batch=32):
    """tp, fp, fn, tn over valid pixels (prediction: logit > 0)."""
    model.eval()
    tp = fp = fn = tn = 0
    for i in range(0, bt.shape[0], batch):
        logit = model(bt[i:i + batch])
        c = cloud[i:i + batch]
        valid = c != NODATA
        pred = (logit > 0) & valid
        truth = (c == CLOUD) & valid
        tp += int((pred & truth).sum())
        fp += int((pred & ~truth).sum())
        fn += int((~pred & truth & valid).sum())
        tn += int((~pred & ~truth & valid).sum())
    return tp, fp, fn, tn


def iou(tp, fp, fn, tn):
    return tp / max(1, tp + fp + fn)


def export(model, path, card):
    model.eval()
    dummy = torch.full((1, 1, 64, 64), 260.0)
    torch.onnx.export(
        model, dummy, path, input_names=['bt_k'], output_names=['cloud_logit'],
        dynamic_axes={'bt_k': {0: 'n', 2: 'h', 3: 'w'}, 'cloud_logit': {0: 'n', 2: 'h', 3: 'w'}},
        opset_version=13, do_constant_folding=True,
    )
    with open(os.path.splitext(path)[0] + '.json', 'w') as f:
        json.dump(card, f, indent=2)
        f.write('\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--train', required=True)
    ap.add_argument('--val', required=True)
    ap.add_argument('--out', required=True, help='.onnx path; the model card goes next to it as .json')
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--iou-weight', type=float, default=0.0, help='weight of the soft-IoU term added to BCE')
    ap.add_argument('--ema', type=float, default=0.0, help='decay of the exported weights\' moving average (0: the last weights)')
    ap.add_argument('--channels', default=','.join(map(str, CHANNELS)), help='channels per level, e.g. 8,16,32')
    ap.add_argument('--max-minutes', type=float, default=15.0, help='stop after this many minutes of training (time budget)')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    train_meta, bt, cloud = load_patches(args.train)
    val_meta, vbt, vcloud = load_patches(args.val)
    overlap = set(train_meta['seeds']) & set(val_meta['seeds'])
    if overlap:
        raise SystemExit(f'validation seeds {sorted(overlap)} are also training seeds: not held out')
    n = bt.shape[0]
    print(f'train {n} patches of {train_meta["patch"]}² (seeds {seed_ranges(train_meta["seeds"])}), '
          f'val {vbt.shape[0]} (seeds {seed_ranges(val_meta["seeds"])})', flush=True)

    channels = tuple(int(c) for c in args.channels.split(','))
    model = CloudUNet(channels)
    ema = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(n / args.batch)
    total = steps_per_epoch * args.epochs
    # Short linear warm-up, then cosine decay to zero over the planned steps
    # (a one-cycle peak of 3e-3 left the net no better than a BT threshold).
    warmup = min(50, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: (k + 1) / warmup if k < warmup else 0.5 * (1 + math.cos(math.pi * (k - warmup) / max(1, total - warmup))))
    t0 = time.time()
    step = 0
    stopped_early = False
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            x, y = augment(bt[idx], cloud[idx], gen)
            loss = loss_fn(model(x), y, args.iou_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            # Exponential moving average of the weights: the validation score of
            # the raw weights swings by a few % between epochs (large uniform
            # regions near the decision boundary flip together).
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(args.ema).add_(pm, alpha=1 - args.ema)
            step += 1
            running += float(loss) * idx.numel()
            if step % 50 == 0:
                print(f'  step {step}/{total} loss {float(loss):.4f} ({time.time() - t0:.0f} s)', flush=True)
        tp, fp, fn, tn = confusion(ema, vbt, vcloud)
        acc = (tp + tn) / max(1, tp + fp + fn + tn)
        print(f'epoch {epoch + 1}/{args.epochs} loss {running / n:.4f} val IoU {iou(tp, fp, fn, tn):.4f} acc {acc:.4f} '
              f'({time.time() - t0:.0f} s)', flush=True)
        if time.time() - t0 > args.max_minutes * 60 and epoch + 1 < args.epochs:
            print(f'time budget of {args.max_minutes} min reached: stopping after epoch {epoch + 1}', flush=True)
            stopped_early = True
            break

    model = ema
    tp, fp, fn, tn = confusion(model, vbt, vcloud)
    card = {
        'format': 'starweather-cloud-unet',
        'version': 1,
        'input': 'bt_k',
        'output': 'cloud_logit',
        'inputDescription': 'band-13 (10.3 um) brightness temperature, K, NaN = no data; shape [n, 1, h, w], h and w multiples of align',
        'outputDescription': 'cloud logit per pixel (> 0: cloud)',
        'align': 2 ** (len(channels) - 1),
        'receptiveRadius': receptive_radius(len(channels)),
        'channels': list(channels),
        'btScaling': {'centreK': BT_CENTRE_K, 'spreadK': BT_SPREAD_K},
        'parameters': sum(p.numel() for p in model.parameters()),
        'training': {
            'trainSeeds': train_meta['seeds'], 'valSeeds': val_meta['seeds'],
            'trainPatches': n, 'valPatches': int(vbt.shape[0]), 'patch': train_meta['patch'],
            'generator': train_meta.get('generator'),
            'epochs': epoch + 1, 'stoppedEarly': stopped_early, 'batch': args.batch, 'lr': args.lr, 'seed': args.seed,
            'loss': f'BCE + {args.iou_weight} x soft IoU', 'ema': args.ema,
            'threads': args.threads, 'seconds': round(time.time() - t0),
            'torch': torch.__version__,
        },
        'heldOut': {'patchIoU': round(iou(tp, fp, fn, tn), 4), 'accuracy': round((tp + tn) / max(1, tp + fp + fn + tn), 4)},
    }
    export(model, args.out, card)
    print(json.dumps(card['heldOut']), f'→ {args.out}', flush=True)


if __name__ == '__main__':
    main()
