"""The results folder: the table's columns and reading it (``table``), the lock, part files and
merge (``folder``), and the resume index (``index``)."""

from farm.store.folder import (
    FolderLocked,
    ResultsStore,
    disk_full,
    merge,
    now,
    run_entry,
    set_aside,
    versions,
)
from farm.store.index import ResumeIndex
from farm.store.table import (
    BOOK_COLUMNS,
    MANIFEST,
    PARAM_COLUMNS,
    RESULTS,
    SWEEP,
    DamagedFile,
    column_order,
    load,
    read_table,
    rows_to_table,
    schema_types,
)

__all__ = [
    "BOOK_COLUMNS",
    "MANIFEST",
    "PARAM_COLUMNS",
    "RESULTS",
    "SWEEP",
    "DamagedFile",
    "FolderLocked",
    "ResultsStore",
    "ResumeIndex",
    "column_order",
    "disk_full",
    "load",
    "merge",
    "now",
    "read_table",
    "rows_to_table",
    "run_entry",
    "schema_types",
    "set_aside",
    "versions",
]
