"""Promotion policy, promotion and releases under /api/v1/lab."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid
from app.audit import service as audit
from app.lab.releases import service
from app.lab.releases.gate import EvidenceError
from app.lab.releases.policy import (
    PromotionPolicy,
    PromotionPolicyUpdate,
    get_policy,
    update_policy,
)
from app.lab.releases.schemas import (
    PromoteRequest,
    PromotionCheck,
    ReleasePublic,
    ReleasesPage,
)
from app.lab.sandbox.service import get_pool

router = APIRouter(prefix="/lab", tags=["lab"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such object for this user"}}
_REFUSED: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"description": "The algorithm is archived"},
    422: {
        "description": "Invalid request or evidence (`detail` names the field), or, for "
        "`promote`, a required criterion failed: the body then also holds the checklist",
    },
}


def _raise(error: Exception) -> Exception:
    if isinstance(error, service.NotFoundError):
        return HTTPException(404, str(error))
    if isinstance(error, service.ConflictError):
        return HTTPException(409, str(error))
    field = str(error).split(":", 1)[0]
    return invalid(str(error), "body", field)


@router.get("/promotion-policy", response_model=PromotionPolicy)
def read_promotion_policy(session: SessionDep, user: CurrentUser) -> PromotionPolicy:
    """The criteria your releases must meet (the platform's defaults until you change them)."""
    return get_policy(session, user.id)


@router.put("/promotion-policy", response_model=PromotionPolicy)
def update_promotion_policy(
    session: SessionDep, user: CurrentUser, body: PromotionPolicyUpdate, request: Request
) -> PromotionPolicy:
    """Change any criteria (threshold, required or advisory); the rest stay as they are."""
    before, after = update_policy(session, user.id, body)
    audit.record(
        session,
        owner_id=user.id,
        actor_id=user.id,
        action="promotion_policy.update",
        object_type="promotion_policy",
        object_id=user.id,
        before=before.model_dump(),
        after=after.model_dump(),
        request=request,
    )
    session.commit()
    return after


async def _promote(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    body: PromoteRequest,
    request: Request,
    create: bool,
) -> PromotionCheck:
    try:
        return await service.promote(
            session, get_pool(), user.id, algorithm_id, body, request, create
        )
    except EvidenceError as error:
        raise invalid(str(error), "body", error.field) from None
    except (service.NotFoundError, service.ConflictError, service.InvalidError) as error:
        raise _raise(error) from None


@router.post(
    "/algorithms/{algorithm_id}/promotion-check", response_model=PromotionCheck, responses=_REFUSED
)
async def promotion_check(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    body: PromoteRequest,
    request: Request,
) -> PromotionCheck:
    """Run the promotion checklist without creating anything."""
    return await _promote(session, user, algorithm_id, body, request, create=False)


@router.post(
    "/algorithms/{algorithm_id}/promote",
    response_model=PromotionCheck,
    status_code=status.HTTP_201_CREATED,
    responses=_REFUSED,
)
async def promote(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    body: PromoteRequest,
    request: Request,
) -> Any:
    """Check the evidence against your promotion policy and, when every required criterion
    passes, create the release (201, `release_id`); otherwise 422 with the checklist."""
    answer = await _promote(session, user, algorithm_id, body, request, create=True)
    if not answer.passed:
        failed = [i.key for i in answer.checklist if i.required and not i.passed]
        message = "promotion refused: " + ", ".join(failed) + " did not pass"
        return JSONResponse(
            status_code=422,
            content={
                # The standard 422 shape (one field error naming the evidence), plus the
                # checklist that says which criteria failed and by how much.
                "detail": [
                    {"loc": ["body", "evidence"], "msg": message, "type": "promotion_refused"}
                ],
                **answer.model_dump(mode="json"),
            },
        )
    return answer


@router.get("/releases", response_model=ReleasesPage)
def read_releases(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID | None = None,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReleasesPage:
    """Your releases, newest first."""
    rows, count = service.list_releases(session, user.id, algorithm_id, skip, limit)
    used = service.used_ids(session, [r.id for r in rows])
    return ReleasesPage(data=[service.summary(r, r.id in used) for r in rows], count=count)


@router.get("/releases/{release_id}", response_model=ReleasePublic, responses=_NOT_FOUND)
def read_release(session: SessionDep, user: CurrentUser, release_id: uuid.UUID) -> ReleasePublic:
    try:
        release = service.get_release(session, user.id, release_id)
    except service.NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    used = release.id in service.used_ids(session, [release.id])
    return ReleasePublic(**release.model_dump(), in_use=used)


@router.get(
    "/releases/{release_id}/bundle",
    response_class=Response,
    responses={
        **_NOT_FOUND,
        200: {"content": {"application/zip": {}}, "description": "The release bundle (zip)"},
    },
)
def download_release(session: SessionDep, user: CurrentUser, release_id: uuid.UUID) -> Response:
    """The release as a zip you can keep: manifest.json (with its content hash),
    algorithm.py and any fitted models."""
    try:
        release = service.get_release(session, user.id, release_id)
    except service.NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    data = service.bundle_file(session, release)
    name = f"release-{release.content_hash[:12]}.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.delete(
    "/releases/{release_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_NOT_FOUND, 409: {"description": "A deployment uses this release"}},
)
def delete_release(
    session: SessionDep, user: CurrentUser, release_id: uuid.UUID, request: Request
) -> Response:
    try:
        service.delete_release(session, user.id, release_id, request)
    except (service.NotFoundError, service.ConflictError) as error:
        raise _raise(error) from None
    return Response(status_code=204)
