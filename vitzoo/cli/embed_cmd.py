"""``vitzoo embed IMAGE... | DIR --model NAME [--weights FILE] -o OUT.safetensors``: image embeddings to a file.

Rows follow the images' order (directories sorted); the file's metadata names each
image relative to their common folder, and says which model and preprocessing made them.

Example::

    vitzoo embed photos/ --model dinov2_b_14 -o photos.safetensors --normalize
    vitzoo embed 'shots/*.png' --weights runs/best.safetensors -o shots.safetensors --pool avg --layers 4
    vitzoo embed --text captions.txt --weights clip-vit-base-patch16/ -o captions.safetensors --normalize

With ``--text FILE`` the rows are the text embeddings (``encode_text``) of a whole CLIP /
SigLIP model (``--weights``: an open_clip folder with its config or a transformers folder;
or ``--model hf-hub:ORG/REPO``),
one per non-blank line; the file's ``texts`` metadata lists them in row order.
"""

from __future__ import annotations

import argparse
import json

from vitzoo.cli.options import add_image_reading, add_model_source, require_model


def _layers(text: str) -> object:
    """``4`` = the last 4 blocks; ``0,5,11`` or ``-1`` = those block indices (``--layers=-1,-4`` for several negatives)."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes an int (the last n blocks) or a comma-separated list of block indices, got {text!r}") from None
    if len(values) == 1 and "," not in text and values[0] > 0:
        return values[0]
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files, directories (searched recursively) or glob patterns")
    parser.add_argument("--text", metavar="FILE", help="embed the texts of FILE (one per line) with a whole CLIP/SigLIP model instead of images")
    add_model_source(parser, "dinov2_b_14")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the .safetensors file to write")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--normalize", action="store_true", help="L2-normalise each embedding (cosine similarity = dot product)")
    parser.add_argument("--pool", choices=("cls", "avg", "map"), help="pool the final tokens this way instead of the model family's own embedding")
    parser.add_argument("--layers", type=_layers, metavar="N|I,J,...", help="also write per-block features: the last N blocks, or those block indices")
    add_image_reading(parser)
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object on the last line")


def run(args: argparse.Namespace) -> int:
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.embedding import embed

    if args.text is not None:
        return _run_text(args)
    if not args.images:
        raise VitzooError("Give image files, directories or glob patterns to embed, or --text FILE for text embeddings.")
    require_model(args, "to embed with")
    out = embed(
        args.images, args.model, weights=args.weights, output=args.output, batch_size=args.batch_size,
        normalize=args.normalize, pool=args.pool, layers=args.layers, skip_bad=args.skip_bad,
        progress=not args.no_progress, workers=args.workers,
    )
    dim = out["embeddings"].shape[1]
    print(f"wrote {out['output']}: {out['images']} embeddings of size {dim} ({out['embedding']}), {out['img_per_s']:.1f} img/s")
    if out["layers"]:
        print(f"  with per-block features of blocks {', '.join(map(str, sorted(out['layers'])))}")
    for path in out["skipped"]:
        print(f"skipped unreadable image: {path}")
    if out["skipped"]:
        print(f"skipped {len(out['skipped'])} unreadable images")
    if args.json:
        summary = {k: out[k] for k in ("output", "images", "root", "skipped", "img_per_s", "embedding")}
        summary["dim"] = dim
        summary["layers"] = sorted(out["layers"])
        print(json.dumps(summary))
    return 0


def _run_text(args: argparse.Namespace) -> int:
    import vitzoo
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.zero_shot import embed_texts

    if args.images:
        raise VitzooError("Give either images or --text FILE to embed, not both.")
    hub_model = args.model is not None and args.model.startswith("hf-hub:")
    if args.weights is None and not hub_model:
        raise VitzooError("Text embeddings need a whole CLIP/SigLIP model: --weights FILE_OR_FOLDER or --model hf-hub:ORG/REPO.")
    clip = vitzoo.create_clip(args.model) if hub_model else vitzoo.create_clip(None, pretrained=args.weights)
    out = embed_texts(args.text, clip, output=args.output, normalize_rows=args.normalize)
    print(f"wrote {out['output']}: {len(out['texts'])} text embeddings of size {out['embeddings'].shape[1]}")
    if args.json:
        print(json.dumps({"output": out["output"], "texts": len(out["texts"]), "dim": int(out["embeddings"].shape[1])}))
    return 0
