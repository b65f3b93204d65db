import torch

from ganexplorer import DirectionBank, Generator
from ganexplorer.data.scenes import make_scenes
from ganexplorer.evaluation.saliency import background_candidates, masks_from_direction, saliency_scores


class TwoLayer(torch.nn.Module):
    """z[0] moves the background only, z[1] a fixed square 'object' only: a known answer."""

    latent_dim = 2

    def forward(self, z):
        obj = torch.zeros(1, 1, 16, 16)
        obj[..., 6:10, 6:10] = 1
        background = torch.tanh(z[:, 0])[:, None, None, None].expand(-1, 3, 16, 16) * (1 - obj)
        return background + obj * torch.tanh(z[:, 1])[:, None, None, None]


def test_a_background_direction_yields_the_object_mask():
    g = Generator(TwoLayer(), device="cpu")
    bank = DirectionBank(torch.eye(2))
    z = torch.zeros(4, 2)
    _, masks = masks_from_direction(g, bank.directions[0], z, shift=2.0)
    truth = torch.zeros(16, 16)
    truth[6:10, 6:10] = 1
    assert torch.equal(masks[0], truth)
    ranked = background_candidates(g, bank, n=4)
    assert ranked[0]["direction"] == 0 and ranked[0]["compact"] == 1.0 and ranked[1]["score"] == 0


def test_saliency_scores():
    _, masks, _ = make_scenes(8, seed=0)
    assert saliency_scores(masks, masks) == {"iou": 1.0, "f_beta": 1.0, "mae": 0.0}
    empty = saliency_scores(torch.zeros_like(masks), masks)
    assert empty["iou"] == 0 and abs(empty["mae"] - float(masks.mean())) < 1e-6
