"""Arrow's allocator for a zonestats process: chosen in the environment before pyarrow loads.

pyarrow's ``set_memory_pool`` reaches only what pyarrow itself allocates; Arrow's C++ default
pool, which the Parquet reader and writer allocate from, is fixed from
``ARROW_DEFAULT_MEMORY_POOL`` when the library loads (else mimalloc). mimalloc keeps the pages a
thread freed for that thread, so with a zone per thread every thread held its largest release's
Parquet buffers: at 4x the bench that was ~120 MB of a 447 MB run, and the run's peak grew 19 %
from 1x to 4x. So every process we start gets jemalloc (which hands freed pages back) in its
environment, unless the operator chose a pool there.
"""

from __future__ import annotations

from collections.abc import MutableMapping

#: the variable Arrow reads once, when it loads
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
#: the pool a run uses unless the operator says otherwise
RUN_POOL = "jemalloc"


def prefer_run_pool(environ: MutableMapping[str, str]) -> None:
    """Ask for the run's Arrow pool in an environment, unless one is chosen there already."""
    if not environ.get(ARROW_POOL_ENV):
        environ[ARROW_POOL_ENV] = RUN_POOL
