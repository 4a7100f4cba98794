"""The NaFlex position-grid resampling matrices against torch's F.interpolate, every mode timm's naflexvit.py can ask for."""

from __future__ import annotations

import numpy as np
import pytest

from vitzoo.naflex import interp_matrix

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("align_corners", [False, True])
def test_matrices_equal_torch_interpolate(mode, antialias, align_corners):
    """Shrinking, growing and keeping, to 1 and from 1: R @ g equals F.interpolate along the height."""
    rng = np.random.default_rng(0)
    for n_in in (1, 2, 5, 16, 23, 128):
        for n_out in (1, 2, 3, 7, 16, 31, 40):
            grid = rng.standard_normal((n_in, 3))
            ref = F.interpolate(torch.from_numpy(grid)[None, None], size=(n_out, 3), mode=mode, antialias=antialias,
                                align_corners=align_corners)[0, 0].numpy()
            assert np.abs(interp_matrix(n_in, n_out, mode, antialias, align_corners) @ grid - ref).max() <= 1e-6, (n_in, n_out)


def test_linear_matrices_equal_torch_1d():
    rng = np.random.default_rng(1)
    for n_in, n_out in ((16, 5), (16, 16), (16, 40), (3, 2)):
        table = rng.standard_normal((1, 4, n_in))
        ref = F.interpolate(torch.from_numpy(table), size=n_out, mode="linear", align_corners=False)[0].numpy().T
        assert np.abs(interp_matrix(n_in, n_out, "linear", False, False) @ table[0].T - ref).max() <= 1e-6
