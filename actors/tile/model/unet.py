"""The cloud UNet: a small UNet (Ronneberger et al. 2015) for band-13
brightness temperature → cloud logit, sized to run a 5424² full disk in
seconds on 2 CPU cores: 4 levels, 8-16-32-64 channels.

The input scaling lives inside the network, so the exported ONNX graph takes
BT in kelvin exactly as L1 gives it (NaN = no data) and nothing outside this
file has to repeat the constants.
"""
import torch
import torch.nn as nn

# Scaling of BT (K): (BT - BT_CENTRE_K) / BT_SPREAD_K puts 150-350 K in about ±2.5.
BT_CENTRE_K = 255.0
BT_SPREAD_K = 40.0
BT_MIN_K = 150.0
BT_MAX_K = 350.0

CHANNELS = (8, 16, 32, 64)
LEVELS = len(CHANNELS)
# LEVELS-1 2x poolings: window origins/sizes must be multiples of ALIGN for
# the pool cells to land on the same pixels in every window.
ALIGN = 2 ** (LEVELS - 1)


def _block(ci: int, co: int) -> nn.Sequential:
    # No BatchNorm: normalising by batch statistics removes the absolute BT
    # level (a batch of polar patches and one of tropical patches look alike),
    # and the level is most of the signal; with BN the net trained to worse
    # than a single BT threshold. GroupNorm/InstanceNorm would make a pixel's
    # output depend on its whole window, which breaks overlap-tile stitching.
    return nn.Sequential(
        nn.Conv2d(ci, co, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(co, co, 3, padding=1), nn.ReLU(inplace=True),
    )


def receptive_radius(levels: int = LEVELS) -> int:
    """An upper bound (px) on how far an output pixel can see: each 3x3 conv
    widens the view by one step of its level's stride on each side, each 2x2
    pool or 2x2 transposed conv by at most one step. (Measured by gradient
    for 3 levels: 23 px; this bound gives 26.)"""
    r = 0
    stride = 1
    # encoder
    for level in range(levels):
        r += 2 * stride  # two 3x3 convs
        if level < levels - 1:
            r += stride  # 2x2 max pool
            stride *= 2
    # decoder
    for level in range(levels - 1):
        stride //= 2
        r += stride  # 2x2 transposed conv
        r += 2 * stride  # two 3x3 convs
    return r


class CloudUNet(nn.Module):
    def __init__(self, channels=CHANNELS):
        super().__init__()
        self.levels = len(channels)
        # 2 input planes: scaled BT (no-data filled with 0) and a no-data flag.
        ins = (2,) + tuple(channels[:-1])
        self.enc = nn.ModuleList(_block(ci, co) for ci, co in zip(ins, channels))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in range(self.levels - 1))
        self.dec = nn.ModuleList(_block(2 * channels[i], channels[i]) for i in range(self.levels - 1))
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, bt_k: torch.Tensor) -> torch.Tensor:
        nodata = torch.isnan(bt_k)
        x = (torch.clamp(bt_k, BT_MIN_K, BT_MAX_K) - BT_CENTRE_K) / BT_SPREAD_K
        x = torch.where(nodata, torch.zeros_like(x), x)
        x = torch.cat([x, nodata.to(x.dtype)], 1)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else self.pool(x))
            skips.append(x)
        y = skips[-1]
        for i in reversed(range(self.levels - 1)):
            y = self.dec[i](torch.cat([self.up[i](y), skips[i]], 1))
        return self.head(y)
