"""The login audit log and the policy row: record events, read a user's own history.

Rules kept here: an event holds time, e-mail as typed (trimmed), result, client address and
user agent, never a password or code; unknown e-mails are recorded without a user.
"""

import uuid

from sqlmodel import Session, col, func, select

from app.auth.models import LoginEvent, LoginResult, SecurityPolicy


def record(
    session: Session,
    *,
    email: str,
    result: LoginResult,
    user_id: uuid.UUID | None,
    ip_address: str | None,
    user_agent: str | None,
) -> None:
    session.add(
        LoginEvent(
            user_id=user_id,
            email=email.strip()[:255],
            result=result.value,
            ip_address=(ip_address or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    session.commit()


def events_for_user(
    session: Session, user_id: uuid.UUID, *, skip: int, limit: int
) -> tuple[list[LoginEvent], int]:
    where = col(LoginEvent.user_id) == user_id
    count = session.exec(select(func.count()).select_from(LoginEvent).where(where)).one()
    rows = session.exec(
        select(LoginEvent)
        .where(where)
        .order_by(col(LoginEvent.created_at).desc(), col(LoginEvent.id).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), count


def two_factor_required(session: Session) -> bool:
    policy = session.get(SecurityPolicy, 1)
    return bool(policy and policy.require_two_factor)


def set_two_factor_required(session: Session, required: bool) -> None:
    policy = session.get(SecurityPolicy, 1) or SecurityPolicy(id=1)
    policy.require_two_factor = required
    session.add(policy)
    session.commit()
