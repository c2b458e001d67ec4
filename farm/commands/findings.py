"""``farm findings``: docs/findings.md and the README's headline, from the committed sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "findings",
        help="write docs/findings.md (and the README headline) from the sweeps' results",
        description="Regenerate docs/findings.md and the headline between the findings markers "
        "of README.md from results/real, results/timed and results/sensitivity (run "
        "`farm run sweeps/real.yaml sweeps/timed.yaml sweeps/sensitivity.yaml` first). Every "
        "number comes from the results. --check writes nothing and exits 1 when the committed "
        "files differ from what the results give.",
    )
    p.add_argument("--results", default="results", metavar="DIR", help="results root (./results)")
    p.add_argument("--docs", default="docs/findings.md", metavar="FILE", help="the findings file")
    p.add_argument("--readme", default="README.md", metavar="FILE", help="the README to update")
    p.add_argument("--check", action="store_true", help="compare, write nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from farm.analysis.findings import generate, with_headline
    from farm.errors import UserError

    text, headline = generate(Path(args.results))
    docs, readme = Path(args.docs), Path(args.readme)
    try:
        new_readme = with_headline(readme.read_text(encoding="utf-8"), headline)
    except (OSError, ValueError):
        raise UserError(f"{readme}: no findings markers to fill") from None
    if args.check:
        stale = [str(p) for p, t in ((docs, text), (readme, new_readme))
                 if not p.exists() or p.read_text(encoding="utf-8") != t]  # fmt: skip
        print("up to date" if not stale else f"differs from the results: {', '.join(stale)}")
        return 1 if stale else 0
    for path, content in ((docs, text), (readme, new_readme)):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {path}")
    from farm.analysis.plot import plot_all

    figure = Path(args.results) / "real" / "figures" / "overhead_vs_grace.png"
    if not figure.exists():
        plot_all(figure.parent.parent)
    target = docs.parent / "figures" / "real-overhead.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(figure.read_bytes())
    print(f"wrote {target}")
    return 0
