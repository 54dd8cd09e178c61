"""The networks ``forensics.training.train_npr`` trains: both give the ``npr`` signal's logit map
(one logit per 8-px cell), and the LaDeDa-style ``local`` network reads only a small neighbourhood."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.requires("torch")


@pytest.mark.parametrize("name", ["npr", "local"])
def test_each_network_gives_a_logit_per_8px_cell(name):
    import torch

    from forensics.training.train_npr import NETS

    torch.manual_seed(0)
    net = NETS[name]().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 1, 8, 12)


def test_the_local_network_reads_13_px_around_each_cell():
    """A pixel changed in one corner moves the cells next to it and no cell two cells away or
    more (receptive field 13 px: gradient 3, two stride-2 3x3 convolutions, a 2x2 mean)."""
    import torch

    from forensics.training.train_npr import LocalNet

    torch.manual_seed(0)
    net = LocalNet().eval()
    x = torch.rand(1, 3, 64, 64)
    y = x.clone()
    y[0, :, 0, 0] = 1 - y[0, :, 0, 0]
    with torch.no_grad():
        moved = (net(x) - net(y)).abs()[0, 0] > 1e-6
    assert moved[0, 0]
    assert not moved[2:, :].any() and not moved[:, 2:].any()
