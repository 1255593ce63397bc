"""Re-encrypt every stored credential under the first configured key (key rotation).

Rows are processed in batches, each locked (SELECT ... FOR UPDATE) so a concurrent PUT
cannot interleave. A row that does not decrypt with any configured key is left as it
is and reported; the others are still rotated.
"""

import logging
import uuid
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.core.crypto import DecryptionError, SecretCipher
from app.credentials import audit, service
from app.credentials.models import AuditAction, AuditOutcome, CoinspotCredential

logger = logging.getLogger(__name__)


@dataclass
class RotationReport:
    rotated: int = 0
    failed: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (row, user)


def rotate_all(session: Session, cipher: SecretCipher, *, batch_size: int = 200) -> RotationReport:
    report = RotationReport()
    ids = list(session.exec(select(CoinspotCredential.id).order_by(col(CoinspotCredential.id))))
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        rows = session.exec(
            select(CoinspotCredential)
            .where(col(CoinspotCredential.id).in_(batch))
            .with_for_update()
        ).all()
        for row in rows:
            try:
                # Decrypting first also checks each ciphertext belongs to this row/column.
                service.decrypt(row, cipher)
                row.api_key_encrypted = cipher.rotate(row.api_key_encrypted)
                row.api_secret_encrypted = cipher.rotate(row.api_secret_encrypted)
            except DecryptionError:
                report.failed.append((row.id, row.user_id))
                audit.record(
                    session,
                    user_id=row.user_id,
                    action=AuditAction.ROTATE_KEY,
                    outcome=AuditOutcome.UNDECRYPTABLE,
                    key_fingerprint=row.key_fingerprint,
                    commit=False,
                )
                continue
            session.add(row)
            audit.record(
                session,
                user_id=row.user_id,
                action=AuditAction.ROTATE_KEY,
                outcome=AuditOutcome.SUCCESS,
                key_fingerprint=row.key_fingerprint,
                commit=False,
            )
            report.rotated += 1
        session.commit()
    logger.info(
        "credential key rotation finished",
        extra={"rotated": report.rotated, "failed": len(report.failed)},
    )
    return report
