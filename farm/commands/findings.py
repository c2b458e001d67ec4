"""``farm findings``: docs/findings.md, its figures and the README's headline, from the
committed sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from farm.analysis import SWEEPS

    p = sub.add_parser(
        "findings",
        help="write docs/findings.md, its figures and the README headline from the sweeps' results",
        description="Regenerate docs/findings.md, its figures (docs/figures/*.png) and the headline "
        "between the findings markers of README.md from "
        + ", ".join(f"results/{name}" for name in SWEEPS)
        + " (run `farm run sweeps/NAME.yaml` for each first), "
        "docs/kernel-check.md (`farm kernel corpus`) and corpus/native/ (`farm kernel "
        "measure`, corpus/native/make_native.sh). Every "
        "number comes from the results. --check writes nothing and exits 1 when the committed "
        "files (document, README, figures) differ from what the results give.",
    )
    p.add_argument("--results", default="results", metavar="DIR", help="results root (./results)")
    p.add_argument("--docs", default="docs/findings.md", metavar="FILE", help="the findings file")
    p.add_argument("--readme", default="README.md", metavar="FILE", help="the README to update")
    p.add_argument(
        "--kernel-check",
        default="docs/kernel-check.md",
        metavar="FILE",
        help="the real-kernel report the findings cite (farm kernel corpus --write)",
    )
    p.add_argument("--check", action="store_true", help="compare, write nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from farm.analysis.findings import generate, with_headline
    from farm.analysis.notes import CHANGES
    from farm.errors import UserError
    from farm.files import atomic_write

    found = generate(Path(args.results), Path(args.kernel_check), CHANGES)
    docs, readme = Path(args.docs), Path(args.readme)
    try:
        new_readme = with_headline(readme.read_text(encoding="utf-8"), found.headline)
    except (OSError, ValueError):
        raise UserError(f"{readme}: no findings markers to fill") from None
    outputs: list[tuple[Path, bytes]] = [(docs, found.text.encode()), (readme, new_readme.encode())]
    outputs += [(docs.parent / "figures" / name, data) for name, data in found.figures.items()]
    if args.check:
        stale = [str(p) for p, data in outputs if not p.exists() or p.read_bytes() != data]
        print("up to date" if not stale else f"differs from the results: {', '.join(stale)}")
        return 1 if stale else 0
    for path, data in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        print(f"wrote {path}")
    return 0
