"""``vitzoo export (MODEL | --weights FILE) -o OUT.mindir | OUT.onnx [--batch-size N] [--img-size N]``.

The format follows the suffix. The written file is run once and compared with the
model (MindIR through MindSpore, ONNX through onnxruntime when installed).

Example::

    vitzoo export vit_b_16 -o vit_b_16.onnx
    vitzoo export --weights runs/digits/best.safetensors -o digits.mindir --batch-size 8
    vitzoo export --text --weights clip-vit-base-patch16/ -o clip_text.onnx --batch-size 8   # the text tower: int32 ids in

With ``--text`` the file is the text tower of a whole CLIP / SigLIP model (``--weights``, with
MODEL an open_clip name where the weights need one): input int32 token ids ``[batch, context]``.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", metavar="MODEL", help="model name with pretrained weights, e.g. vit_b_16")
    parser.add_argument("--weights", metavar="FILE", help="a checkpoint file (any supported format) instead of MODEL's pretrained weights")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write: *.mindir or *.onnx")
    parser.add_argument("--batch-size", type=int, default=1, help="the exported graph's fixed batch size (default 1)")
    parser.add_argument("--img-size", type=int, metavar="N", help="input side in pixels (default: the model's)")
    parser.add_argument("--naflex", action="store_true", help="a graph over NaFlex batches (refused: NaFlex models export their NCHW path)")
    parser.add_argument("--text", action="store_true", help="export the text tower of a whole CLIP/SigLIP model (--weights) instead")
    parser.add_argument("--no-verify", action="store_true", help="do not run the written file to compare it with the model")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")


def run(args: argparse.Namespace) -> int:
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.exporting import export

    if args.text:
        from vitzoo.workflows.exporting import export_text

        if args.weights is None:
            raise VitzooError("--text exports the text tower of whole-model weights: give --weights FILE_OR_FOLDER.")
        summary = export_text(None, args.output, weights=args.weights, name=args.model, batch_size=args.batch_size, verify=not args.no_verify)
    elif args.model is None and args.weights is None:
        raise VitzooError("Name the model to export: MODEL (pretrained weights) or --weights FILE.")
    else:
        summary = export(
            args.model, args.output, weights=args.weights, batch_size=args.batch_size, img_size=args.img_size, verify=not args.no_verify,
            naflex=args.naflex,
        )
    shape = "x".join(map(str, summary["input_shape"]))
    line = f"wrote {summary['path']} ({summary['format']}, input {summary.get('input_dtype', 'float32')} {shape}"
    if summary.get("output_shape"):
        line += f", output {'x'.join(map(str, summary['output_shape']))}"
    print(line + ")")
    for extra in summary["files"][1:]:
        print(f"  with its weights in {extra}")
    diff = summary.get("max_abs_diff")
    if diff is not None:
        print(f"checked: max |difference| from the model {diff:.2g}")
    elif not args.no_verify:
        print("not checked: onnxruntime is not installed")
    if args.json:
        print(json.dumps(summary))
    return 0
