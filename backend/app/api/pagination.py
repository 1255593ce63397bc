"""Bounded pagination parameters for list routes.

Rules this module keeps:
- Every `skip` and `limit` has an upper bound, so no value a client sends reaches SQL
  (OFFSET/LIMIT are bigint) or Python slicing unchecked: past the bound is a 422 naming the
  parameter, never a 500.
- Use them as `skip: Skip = 0` and `limit: Annotated[int, limit_query(200)] = 50`.
"""

from typing import Annotated, Any

from fastapi import Query

# Far beyond any table here, far below PostgreSQL's bigint.
MAX_SKIP = 1_000_000_000

Skip = Annotated[int, Query(ge=0, le=MAX_SKIP, description=f"Rows to skip (0 to {MAX_SKIP:,})")]


def limit_query(maximum: int) -> Any:
    """The `Query` of a `limit` parameter: 1 to `maximum` rows per page."""
    return Query(ge=1, le=maximum, description=f"Rows per page (1 to {maximum})")
