"""MetaSchedule tuning with one database per target, shared by every network compiled for it.

``tune(network, target, trials)`` tunes the kernels the database does not have yet; the TVM
backend applies the database at every later compile. See :mod:`devbench.tuning.database` for
where the database lives.
"""

from devbench.tuning.database import database_dir, open_database
from devbench.tuning.tune import TuneReport, tune, tune_each

__all__ = ["TuneReport", "database_dir", "open_database", "tune", "tune_each"]
