"""Zero-shot classifiers equal open_clip's build_zero_shot_classifier; class names and templates are open_clip's lists."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
from open_clip import zero_shot_metadata  # noqa: E402
from safetensors.torch import save_file as save_torch_file  # noqa: E402

import vitzoo  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.errors import DataError  # noqa: E402
from vitzoo.zero_shot import (  # noqa: E402
    IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES, probabilities, zero_shot_classifier, zero_shot_logits,
)

CFG = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=1, width=32, head_width=16, patch_size=4),
           text_cfg=dict(context_length=20, vocab_size=49408, width=32, heads=4, layers=2))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    model = randomise_(open_clip.CLIP(**json.loads(json.dumps(CFG))), scale=0.3)
    folder = tmp_path_factory.mktemp("zs")
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": CFG}))
    return model, folder


def test_lists_are_open_clips():
    assert IMAGENET_CLASSNAMES == tuple(zero_shot_metadata.IMAGENET_CLASSNAMES)
    assert [t.format("X") for t in OPENAI_IMAGENET_TEMPLATES] == [f("X") for f in zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES]
    assert [t.format("X") for t in SIMPLE_IMAGENET_TEMPLATES] == [f("X") for f in zero_shot_metadata.SIMPLE_IMAGENET_TEMPLATES]
    assert vitzoo.zero_shot_classifier is zero_shot_classifier


@pytest.mark.parametrize("backend", ["numpy", "mindspore"])
@pytest.mark.parametrize("kind", ["strings", "callables", "openai"])
def test_classifier_matches_open_clip(models, backend, kind):
    model, folder = models
    names = list(IMAGENET_CLASSNAMES[:13]) + ["crème brûlée", "{odd} name"]
    templates = {"strings": ["a photo of a {}.", "itap of the {}"], "callables": [lambda c: f"a {c}", lambda c: f"art of {c}!"],
                 "openai": "openai"}[kind]
    ref_templates = zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES if kind == "openai" else templates
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend)
    ours = zero_shot_classifier(clip, names, templates, batch_size=4)
    ref = open_clip.build_zero_shot_classifier(model, lambda t: open_clip.tokenize(t, context_length=20), names, ref_templates).numpy()
    assert ours.shape == (24, len(names)) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-5  # unit columns: the scale is 1
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        feats = model.encode_image(torch.from_numpy(x), normalize=True)
        ref_logits = (model.logit_scale.exp() * feats @ torch.from_numpy(ref)).numpy()
    logits = zero_shot_logits(clip, x, ours)
    assert np.abs(logits - ref_logits).max() <= 1e-4 * np.abs(ref_logits).max()
    probs = probabilities(clip, logits)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)


def test_bad_classes_or_templates_are_one_sentence(models):
    clip = vitzoo.create_clip(None, pretrained=models[1], backend="numpy")
    for names, templates in (([], ["a {}"]), (["dog"], []), (["dog"], ["no placeholder"]), (["dog"], "fancy"), ([3], ["a {}"])):
        with pytest.raises(DataError) as info:
            zero_shot_classifier(clip, names, templates)
        assert "\n" not in str(info.value)
