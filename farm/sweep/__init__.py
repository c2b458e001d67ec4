"""What to run: a sweep file in, validated points out (the file with its lines, expansion and
validation, point identity and seeds). Nothing here runs anything."""

from farm.sweep.definition import dump_definition, load_sweep, parameter_names, parse_sweep
from farm.sweep.points import Point, Shape, Sweep
from farm.sweep.source import SweepError

__all__ = [
    "Point",
    "Shape",
    "Sweep",
    "SweepError",
    "dump_definition",
    "load_sweep",
    "parameter_names",
    "parse_sweep",
]
