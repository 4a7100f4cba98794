"""``vitzoo download NAME... [--force]``: fetch weights and cache their canonical conversion for offline use.

NAME is a weight set (``vit_b_16.augreg_in1k``), a variant (its default weights),
a pattern (``"vit_b_16.*"``) or a hub repo (``hf-hub:ORG/REPO[@REVISION]``, kept in the
Hugging Face cache as downloaded). Copy ``$VITZOO_CACHE`` (and the Hugging Face cache)
to an offline machine, or set the same variables there, and ``pretrained=True``
works without a network.

Example:
    $ vitzoo download vit_b_16 vit_b_16.ms_in1k
    $ vitzoo download hf-hub:timm/vit_small_patch16_224.augreg_in21k_ft_in1k
"""

from __future__ import annotations

import argparse

from vitzoo.errors import UnknownNameError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="weight set, variant (default weights), fnmatch pattern or hf-hub:ORG/REPO[@REV]")
    parser.add_argument("--force", action="store_true", help="fetch and convert again even if cached")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from vitzoo import hub
    from vitzoo.pretrained import get_weight_set, list_pretrained

    from vitzoo.hub.repos import is_hub_name

    weight_sets, repos = [], []
    for name in args.names:
        if is_hub_name(name):
            repos.append(name)
        elif any(c in name for c in "*?["):
            matched = list_pretrained(name)
            if not matched:
                raise UnknownNameError(f"No weight set matches {name!r}; see `vitzoo list --pretrained`.")
            weight_sets += [get_weight_set(n) for n in matched]
        else:
            weight_sets.append(get_weight_set(name))
    if args.no_progress:  # the hub's own bars too (this process only)
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    for name in dict.fromkeys(repos):
        _download_repo(name, force=args.force)
    for ws in {w.name: w for w in weight_sets}.values():  # once each, in order
        ckpt = hub.load(ws, force=args.force, progress=not args.no_progress)
        params = sum(int(v.size) for v in ckpt.state.values())
        print(f"{ws.name}: {params / 1e6:.1f}M parameters from {ws.source}, cached at {hub.converted_path(ws)}")
    return 0


def _download_repo(name: str, *, force: bool) -> None:
    """Fetch a hub repo's files and check that vitzoo reads them (the image model, or a whole CLIP model)."""
    from vitzoo.hub.repos import load_repo

    ckpt = load_repo(name, force=force)
    params = sum(int(v.size) for v in ckpt.state.values())
    print(f"{name}: {params / 1e6:.1f}M parameters ({ckpt.meta['hub_layout']} layout) from {ckpt.meta['source']}, in the Hugging Face cache")
