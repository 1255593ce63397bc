"""Create the first superuser (run after migrations)."""

import logging

from sqlmodel import Session

from app.core.db import engine, init_db
from app.core.logging import setup_logging

logger = logging.getLogger(__name__)


def main() -> None:
    setup_logging()
    with Session(engine) as session:
        init_db(session)
    logger.info("initial data ready")


if __name__ == "__main__":
    main()
