import json

import pytest

from vitzoo import SpecError, ViTSpec, VitzooError


def test_defaults_are_vit_b_16():
    spec = ViTSpec()
    assert (spec.embed_dim, spec.depth, spec.num_heads, spec.mlp_dim) == (768, 12, 12, 3072)
    assert spec.head_dim == 64 and spec.grid_size == 14 and spec.num_patches == 196
    assert spec.num_tokens == 197 and spec.pos_embed_len == 197


def test_prefix_tokens_and_pos_embed_length():
    spec = ViTSpec(reg_tokens=4, pos_embed_prefix=False)
    assert spec.num_prefix_tokens == 5 and spec.num_tokens == 201 and spec.pos_embed_len == 196
    assert ViTSpec(class_token=False, global_pool="avg").num_prefix_tokens == 0


def test_json_round_trip_is_exact():
    spec = ViTSpec(img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_dim=128, norm_eps=1e-7,
                   gelu="tanh", reg_tokens=2, layer_scale=True, fc_norm=True, global_pool="avg", pre_logits_dim=32)
    text = spec.to_json()
    assert json.loads(text)["gelu"] == "tanh"
    assert ViTSpec.from_json(text) == spec
    assert ViTSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(embed_dim=100, num_heads=3), "not divisible by num_heads"),
        (dict(img_size=8), "smaller than patch_size"),
        (dict(gelu="swish"), "Unknown GELU form"),
        (dict(mlp_type="glu"), "Unknown MLP type"),
        (dict(dist_token="yes"), "true or false"),
        (dict(dist_token=True, class_token=False, global_pool="avg"), "needs class_token=True"),
        (dict(dist_token=True, global_pool="avg"), "needs global_pool='token'"),
        (dict(dist_token=True, reg_tokens=4), "needs reg_tokens=0"),
        (dict(dist_token=True, fc_norm=True), "needs fc_norm=False"),
        (dict(class_token=False, global_pool="map", mlp_type="swiglu"), "needs mlp_type='mlp'"),
        (dict(global_pool="max"), "Unknown pooling"),
        (dict(depth=0), "positive integer"),
        (dict(num_classes=-1), "non-negative"),
        (dict(depth=2.0), "positive integer"),
        (dict(qkv_bias="yes"), "true or false"),
        (dict(norm_eps=0.0), "norm_eps"),
        (dict(class_token=False), "needs class_token"),
    ],
)
def test_impossible_specs_raise_one_sentence(fields, words):
    with pytest.raises(SpecError, match=words) as info:
        ViTSpec(**fields)
    assert isinstance(info.value, VitzooError) and "\n" not in str(info.value)


def test_family_fields_round_trip_and_count_prefix_tokens():
    distilled = ViTSpec(dist_token=True, gelu="quick")
    assert distilled.num_prefix_tokens == 2 and distilled.pos_embed_len == 198
    siglip = ViTSpec(class_token=False, global_pool="map")
    swiglu = ViTSpec(mlp_type="swiglu", mlp_dim=4096, reg_tokens=4, pos_embed_prefix=False, layer_scale=True)
    assert siglip.num_prefix_tokens == 0 and swiglu.fc1_dim == 8192 and ViTSpec().fc1_dim == 3072
    for spec in (distilled, siglip, swiglu):
        assert ViTSpec.from_json(spec.to_json()) == spec
    old = {k: v for k, v in ViTSpec().to_dict().items() if k not in ("mlp_type", "dist_token")}
    assert ViTSpec.from_dict(old) == ViTSpec()  # files written before these fields existed still read


def test_replace_validates_and_rejects_unknown_fields():
    spec = ViTSpec()
    assert spec.replace(num_classes=10).num_classes == 10
    with pytest.raises(SpecError, match="Unknown ViT spec field"):
        spec.replace(width=3)
    with pytest.raises(SpecError, match="not divisible"):
        spec.replace(num_heads=5)


def test_bad_json_is_a_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        ViTSpec.from_json("{nope")
    with pytest.raises(SpecError, match="Unknown ViT spec field"):
        ViTSpec.from_json('{"colour": 1}')
    with pytest.raises(SpecError, match="JSON object"):
        ViTSpec.from_json("[1, 2]")


def test_spec_is_frozen():
    with pytest.raises(Exception):
        ViTSpec().depth = 3  # type: ignore[misc]
