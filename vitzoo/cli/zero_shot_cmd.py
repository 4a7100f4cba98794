"""``vitzoo zero-shot IMAGE... (--weights FILE [--model NAME] | --model NAME [--pretrained TAG]) (--labels "a,b,c" | --labels-file F | --imagenet) [--top K]``.

Classifies images with a whole CLIP / SigLIP model by comparing them with a text prompt
per label: probabilities are a softmax over the labels for CLIP, a sigmoid per label for
SigLIP (its labels are independent, so they need not sum to 1).

Example::

    vitzoo zero-shot cat.jpg dog.jpg --weights clip-vit-base-patch16/ --labels "cat,dog,car"
    vitzoo zero-shot photos/ --model ViT-B-16 --weights open_clip_model.safetensors --imagenet --top 3
    vitzoo zero-shot cat.jpg --model ViT-B-16 --pretrained laion2b_s34b_b88k --labels "cat,dog"
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files, directories (searched recursively) or glob patterns")
    parser.add_argument("--model", help="open_clip model name (e.g. ViT-B-16) when the weights file does not say it; not needed for transformers folders")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", metavar="FILE", help="whole-model weights: an open_clip file or folder, or a transformers CLIPModel/SiglipModel folder")
    source.add_argument("--pretrained", metavar="TAG", help="an open_clip weight tag of --model (e.g. laion2b_s34b_b88k), downloaded from the hub; "
                        "'default' for the model's default tag (`vitzoo list --clip` lists them)")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated labels, e.g. 'cat,dog,car'")
    labels.add_argument("--labels-file", metavar="F", help="a text file with one label per line")
    labels.add_argument("--imagenet", action="store_true", help="the 1000 ImageNet classes (open_clip's names) with OpenAI's 80 prompts")
    parser.add_argument("--template", action="append", metavar="T",
                        help="prompt pattern with {} for the label (repeatable; default 'a photo of a {}.'); 'openai' or 'simple' for those sets")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="how many labels to show per image")
    parser.add_argument("--backend", default="mindspore", choices=("mindspore", "numpy"))
    parser.add_argument("--json", action="store_true", help="print the predictions as one JSON object on the last line")


def run(args: argparse.Namespace) -> int:
    import vitzoo
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.zero_shot import classify, read_labels
    from vitzoo.zero_shot import IMAGENET_CLASSNAMES

    from vitzoo.pretrained.clip_tags import split_clip_name

    weights: object = args.weights
    if args.pretrained is not None:
        weights = True if args.pretrained == "default" else args.pretrained
    if weights is None and not (args.model and (args.model.startswith("hf-hub:") or split_clip_name(args.model)[1])):
        raise VitzooError("zero-shot needs weights: --pretrained TAG with --model, --model MODEL.tag or hf-hub:ORG/REPO, or --weights FILE_OR_FOLDER.")
    labels = list(IMAGENET_CLASSNAMES) if args.imagenet else read_labels(args.labels, args.labels_file)
    templates: object = args.template or (["openai"] if args.imagenet else ["a photo of a {}."])
    if len(templates) == 1 and templates[0] in ("openai", "simple"):
        templates = templates[0]
    clip = vitzoo.create_clip(args.model, pretrained=weights, backend=args.backend)
    results = classify(args.images, clip, labels, templates, top_k=args.top)
    for item in results:
        top = item["top"]
        print(f"{item['image']}: {top[0]['label']} ({top[0]['prob']:.1%})")
        for alt in top[1:]:
            print(f"    {alt['label']:<24} {alt['prob']:.1%}")
    if args.json:
        print(json.dumps({"weights": str(args.weights or clip.pretrained_cfg.get("name") or args.model), "family": clip.spec.family, "predictions": results}))
    return 0
