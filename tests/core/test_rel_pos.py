"""vitzoo.rel_pos (BEiT's relative position bias) against timm's own functions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from vitzoo import rel_pos  # noqa: E402


@pytest.mark.parametrize("grid", [1, 2, 3, 7, 14, 24])
def test_pair_index_is_timms(grid):
    from timm.models.beit import gen_relative_position_index

    index = rel_pos.relative_position_index(grid)
    assert np.array_equal(index, gen_relative_position_index((grid, grid)).numpy())
    assert int(index.max()) + 1 == rel_pos.table_rows(grid) and rel_pos.grid_of_table(rel_pos.table_rows(grid)) == grid


@pytest.mark.parametrize("old, new", [(14, 24), (14, 32), (24, 14), (14, 10), (3, 5), (14, 14)])
def test_table_resize_is_timms(old, new):
    from timm.layers.pos_embed_rel import resize_rel_pos_bias_table

    table = np.random.default_rng(old * 100 + new).standard_normal((rel_pos.table_rows(old), 6)).astype(np.float32)
    ref = resize_rel_pos_bias_table(torch.from_numpy(table), (new, new), (rel_pos.table_rows(new), 6)).numpy()
    ours = rel_pos.resize_table(table, new)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("rows", [0, 10, 4 * 4 + 3, 732 + 1])
def test_a_table_of_no_square_grid_is_refused(rows):
    with pytest.raises(ValueError, match="no relative position table of a square grid"):
        rel_pos.grid_of_table(rows)
