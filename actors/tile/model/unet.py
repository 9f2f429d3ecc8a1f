"""The cloud UNet: a small 3-level UNet (Ronneberger et al. 2015) for band-13
brightness temperature → cloud logit, sized to run a 5424² full disk in a few
seconds on 2 CPU cores (8-16-32 channels).

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

CHANNELS = (8, 16, 32)
LEVELS = len(CHANNELS)
# Two 2x poolings: window origins/sizes must be multiples of 4 for the pool
# cells to land on the same pixels in every window.
ALIGN = 2 ** (LEVELS - 1)


def _block(ci: int, co: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(ci, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(inplace=True),
        nn.Conv2d(co, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(inplace=True),
    )


def receptive_radius() -> int:
    """How far (px) an output pixel can see, from the layer list below:
    each 3x3 conv adds 1 px at its level's stride, each 2x2 pool or
    transposed conv adds stride/... rounded up to one step at its stride."""
    r = 0
    stride = 1
    # encoder
    for level in range(LEVELS):
        r += 2 * stride  # two 3x3 convs
        if level < LEVELS - 1:
            r += stride  # 2x2 max pool
            stride *= 2
    # decoder
    for level in range(LEVELS - 1):
        stride //= 2
        r += stride  # 2x2 transposed conv
        r += 2 * stride  # two 3x3 convs
    return r


class CloudUNet(nn.Module):
    def __init__(self, channels=CHANNELS):
        super().__init__()
        a, b, c = channels
        # 2 input planes: scaled BT (no-data filled with 0) and a no-data flag.
        self.enc1 = _block(2, a)
        self.enc2 = _block(a, b)
        self.enc3 = _block(b, c)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(c, b, 2, stride=2)
        self.dec2 = _block(2 * b, b)
        self.up1 = nn.ConvTranspose2d(b, a, 2, stride=2)
        self.dec1 = _block(2 * a, a)
        self.head = nn.Conv2d(a, 1, 1)

    def forward(self, bt_k: torch.Tensor) -> torch.Tensor:
        nodata = torch.isnan(bt_k)
        x = (torch.clamp(bt_k, BT_MIN_K, BT_MAX_K) - BT_CENTRE_K) / BT_SPREAD_K
        x = torch.where(nodata, torch.zeros_like(x), x)
        x = torch.cat([x, nodata.to(x.dtype)], 1)
        x1 = self.enc1(x)
        x2 = self.enc2(self.pool(x1))
        x3 = self.enc3(self.pool(x2))
        y = self.dec2(torch.cat([self.up2(x3), x2], 1))
        y = self.dec1(torch.cat([self.up1(y), x1], 1))
        return self.head(y)
