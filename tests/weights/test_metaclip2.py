"""MetaCLIP 2 as a whole model: transformers ``MetaClip2Model`` folders (CLIP's architecture, a multilingual tokenizer).

The tokenizer is the folder's ``tokenizer.json`` (XLM-R's kind for the worldwide models) run
through the ``tokenizers`` library; a tiny Unigram model learnt here stands in for the real one.
The text tower pools at the first ``eos_token_id`` (XLM-R's ``</s>`` is id 2, which CLIP's legacy
rule would read as "the largest id"). References: ``AutoTokenizer`` on the folder and
transformers' ``MetaClip2Model`` with random weights, on NumPy, MindSpore and ``jit=True``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
if not hasattr(T, "MetaClip2Model"):
    pytest.skip("this transformers has no MetaClip2Model", allow_module_level=True)

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from text_models import CORPUS, xlmr_tokenizer_files  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.zero_shot import to_numpy  # noqa: E402

TOL = 1e-4
RUNS = [("numpy", False), ("mindspore", False), ("mindspore", True)]
X = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4)
TEXT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=12)


@pytest.fixture(scope="module")
def metaclip2_folder(tmp_path_factory):
    folder = xlmr_tokenizer_files(tmp_path_factory.mktemp("metaclip2"))
    tok = T.AutoTokenizer.from_pretrained(folder)
    text = dict(TEXT, vocab_size=len(tok), eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id)
    model = randomise_(T.MetaClip2Model(T.MetaClip2Config(vision_config=VISION, text_config=text, projection_dim=24)), scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.5)
    model.save_pretrained(folder)
    return folder, model


@pytest.mark.parametrize("backend,jit", RUNS)
def test_metaclip2_matches_transformers(metaclip2_folder, backend, jit):
    folder, model = metaclip2_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    ids = clip.tokenize(CORPUS)
    ref_ids = T.AutoTokenizer.from_pretrained(folder)(CORPUS, padding="max_length", max_length=12, truncation=True)["input_ids"]
    assert ids.tolist() == ref_ids
    assert (clip.spec.text.pool, clip.spec.text.eos_token_id, clip.spec.text.causal) == ("eos", 2, True)
    with torch.no_grad():
        x, t = torch.from_numpy(X), torch.from_numpy(ids)
        image = model.get_image_features(pixel_values=x)
        text = model.get_text_features(input_ids=t)
        image, text = (v if isinstance(v, torch.Tensor) else v.pooler_output for v in (image, text))
        logits = model(input_ids=t, pixel_values=x).logits_per_image
    diffs = [max_rel_diff(to_numpy(clip.encode_image(X)), image.numpy()), max_rel_diff(to_numpy(clip.encode_text(ids)), text.numpy()),
             max_rel_diff(to_numpy(clip(X, ids)), logits.numpy())]
    print(f"metaclip2 {backend} jit={jit}", [f"{d:.1e}" for d in diffs])
    assert max(diffs) <= TOL, diffs


@pytest.mark.parametrize("backend,jit", RUNS)
def test_open_clip_worldwide_matches_open_clip(backend, jit, tmp_path):
    """open_clip's MetaCLIP 2 worldwide layout: a plain CLIP ViT, a multilingual HF tokenizer beside the weights, eos pooling."""
    import json

    open_clip = pytest.importorskip("open_clip")
    from safetensors.torch import save_file

    folder = xlmr_tokenizer_files(tmp_path / "ww")
    vocab = len(T.AutoTokenizer.from_pretrained(folder))
    text_cfg = dict(context_length=12, vocab_size=vocab, width=32, heads=4, layers=2, hf_tokenizer_name="x", pool_type="eos", eos_id=2,
                    tokenizer_kwargs={"clean": "canonicalize"})
    cfg = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=2, width=32, head_width=16, patch_size=4, mlp_ratio=2.0), text_cfg=text_cfg)
    build = json.loads(json.dumps(cfg))
    build["text_cfg"].pop("tokenizer_kwargs")
    model = randomise_(open_clip.CLIP(**build), scale=0.3)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    ids = clip.tokenize(CORPUS)
    np.testing.assert_array_equal(ids, open_clip.tokenizer.HFTokenizer(str(folder), context_length=12, clean="canonicalize")(CORPUS).numpy())
    with torch.no_grad():
        x, t = torch.from_numpy(X), torch.from_numpy(ids)
        image, text, logits = model.encode_image(x).numpy(), model.encode_text(t).numpy(), model.get_logits(x, t)[0].numpy()
    diffs = [max_rel_diff(to_numpy(clip.encode_image(X)), image), max_rel_diff(to_numpy(clip.encode_text(ids)), text),
             max_rel_diff(to_numpy(clip(X, ids)), logits)]
    print(f"worldwide {backend} jit={jit}", [f"{d:.1e}" for d in diffs])
    assert max(diffs) <= TOL, diffs
