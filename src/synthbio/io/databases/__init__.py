"""Real face and fingerprint databases: an SQLite index of samples with protocols and groups.

Build once (`build_database(kind, root).write(index)`, or `synthbio db build`),
then query (`open_database(index).samples(protocol=..., group=...)`); jobs
that read real images take an `ImageSelection` (see `selection`).
"""

from synthbio.io.databases.builders import BUILDERS, Builder, build_database
from synthbio.io.databases.index import (Database, GroupInfo, IndexContent, Pair, Sample, check_files, open_database,
                                         open_in_memory, parse_group)
from synthbio.io.databases.selection import (ImageSelection, open_selection, parse_where, select_many,
                                             select_samples)

__all__ = ["BUILDERS", "Builder", "Database", "GroupInfo", "ImageSelection", "IndexContent", "Pair", "Sample",
           "build_database", "check_files", "open_database", "open_in_memory", "open_selection", "parse_group",
           "parse_where", "select_many", "select_samples"]
