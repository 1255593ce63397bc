"""Algorithms, versions, validation and templates under /api/v1/lab."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid, responses
from app.api.openapi import links
from app.api.pagination import Skip, limit_query
from app.lab.algorithms import service
from app.lab.algorithms.models import (
    Algorithm,
    AlgorithmCreate,
    AlgorithmDetail,
    AlgorithmListItem,
    AlgorithmsPage,
    AlgorithmStatus,
    AlgorithmType,
    AlgorithmUpdate,
    AlgorithmVersion,
    LastBacktest,
    TemplatePublic,
    ValidateRequest,
    VersionPublic,
    VersionsPage,
    VersionSummary,
)
from app.lab.templates import TEMPLATES
from app.lab.validation import ValidationResult, validate_code

router = APIRouter(prefix="/lab", tags=["lab"])
_NOT_FOUND = responses({404: "No such algorithm for this user"})
_DEPLOYED = responses(
    {404: "No such algorithm for this user", 409: "Deployed on the Floor, or the name is taken"}
)
_ALGORITHM_LINKS = links(
    "lab-read_algorithm",
    "lab-update_algorithm",
    "lab-delete_algorithm",
    "lab-list_versions",
    "lab-list_backtests",
    "lab-list_sweeps",
    algorithm_id="$response.body#/id",
) | links(
    "lab-read_version", algorithm_id="$response.body#/id", version="$response.body#/latest_version"
)
_RUN_FROM_ALGORITHM_LINKS = links(
    "lab-create_backtest", "lab-create_sweep", **{"body.algorithm_id": "$response.body#/id"}
)


def _detail(algorithm: Algorithm, version: AlgorithmVersion) -> AlgorithmDetail:
    return AlgorithmDetail(
        **algorithm.model_dump(exclude={"user_id"}),
        code=version.code,
        class_name=version.class_name,
        parameter_schema=version.parameter_schema,
    )


def _raise(error: service.AlgorithmError) -> HTTPException | RequestValidationError:
    if error.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
        return invalid(error.detail, "body")
    return HTTPException(error.status_code, error.detail)


@router.post("/algorithms/validate", response_model=ValidationResult)
def validate(_: CurrentUser, body: ValidateRequest) -> ValidationResult:
    """Check code without saving it: syntax, the interface, the import policy and the
    parameter declarations. Problems come with 1-based line and column."""
    return validate_code(body.code)


@router.get("/templates", response_model=list[TemplatePublic])
def list_templates(_: CurrentUser) -> list[TemplatePublic]:
    """Working example algorithms to start from (create one with `{"template": key}`)."""
    out = []
    for template in TEMPLATES:
        schema = validate_code(template.source).parameter_schema or {}
        out.append(
            TemplatePublic(
                key=template.key,
                name=template.name,
                description=template.description,
                type=template.type,
                class_name=template.class_name,
                source=template.source,
                parameter_schema=schema,
            )
        )
    return out


@router.post(
    "/algorithms",
    status_code=status.HTTP_201_CREATED,
    response_model=AlgorithmDetail,
    responses=responses({409: "Name taken", 422: "Invalid code or parameters"})
    | {201: {"description": "Created", "links": _ALGORITHM_LINKS | _RUN_FROM_ALGORITHM_LINKS}},
)
def create_algorithm(
    session: SessionDep, user: CurrentUser, body: AlgorithmCreate
) -> AlgorithmDetail:
    try:
        algorithm, version = service.create(session, user.id, body)
    except service.AlgorithmError as error:
        raise _raise(error) from None
    return _detail(algorithm, version)


@router.get("/algorithms", response_model=AlgorithmsPage)
def list_algorithms(
    session: SessionDep,
    user: CurrentUser,
    status_filter: Annotated[AlgorithmStatus | None, Query(alias="status")] = None,
    type_filter: Annotated[AlgorithmType | None, Query(alias="type")] = None,
    search: Annotated[str | None, Query(max_length=100, description="Part of the name")] = None,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(200)] = 50,
) -> AlgorithmsPage:
    """Your algorithms, most recently changed first."""
    rows, count = service.list_owned(
        session,
        user.id,
        status=status_filter,
        type_=type_filter.value if type_filter else None,
        search=search,
        skip=skip,
        limit=limit,
    )
    last = service.last_backtests(session, [r.id for r in rows])
    items = []
    for row in rows:
        item = AlgorithmListItem.model_validate(row, from_attributes=True)
        if row.id in last:
            item.last_backtest = LastBacktest(**last[row.id])
        items.append(item)
    return AlgorithmsPage(data=items, count=count)


@router.get("/algorithms/{algorithm_id}", response_model=AlgorithmDetail, responses=_NOT_FOUND)
def read_algorithm(
    session: SessionDep, user: CurrentUser, algorithm_id: uuid.UUID
) -> AlgorithmDetail:
    try:
        algorithm = service.get_owned(session, user.id, algorithm_id)
        return _detail(algorithm, service.get_version(session, algorithm))
    except service.AlgorithmError as error:
        raise _raise(error) from None


@router.put("/algorithms/{algorithm_id}", response_model=AlgorithmDetail, responses=_DEPLOYED)
def update_algorithm(
    session: SessionDep, user: CurrentUser, algorithm_id: uuid.UUID, body: AlgorithmUpdate
) -> AlgorithmDetail:
    """Change name, description, parameters or status; new code becomes a new version."""
    try:
        algorithm = service.get_owned(session, user.id, algorithm_id)
        algorithm, version = service.update(session, algorithm, body)
    except service.AlgorithmError as error:
        raise _raise(error) from None
    return _detail(algorithm, version)


@router.delete(
    "/algorithms/{algorithm_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_DEPLOYED
)
def delete_algorithm(session: SessionDep, user: CurrentUser, algorithm_id: uuid.UUID) -> None:
    """Delete an algorithm with its versions and runs (refused while deployed)."""
    try:
        service.delete(session, service.get_owned(session, user.id, algorithm_id))
    except service.AlgorithmError as error:
        raise _raise(error) from None


@router.get(
    "/algorithms/{algorithm_id}/versions", response_model=VersionsPage, responses=_NOT_FOUND
)
def list_versions(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(200)] = 50,
) -> VersionsPage:
    try:
        algorithm = service.get_owned(session, user.id, algorithm_id)
    except service.AlgorithmError as error:
        raise _raise(error) from None
    rows, count = service.list_versions(session, algorithm, skip=skip, limit=limit)
    return VersionsPage(
        data=[VersionSummary.model_validate(r, from_attributes=True) for r in rows], count=count
    )


@router.get(
    "/algorithms/{algorithm_id}/versions/{version}",
    response_model=VersionPublic,
    responses=_NOT_FOUND,
)
def read_version(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    version: Annotated[int, Path(ge=1)],
) -> VersionPublic:
    try:
        algorithm = service.get_owned(session, user.id, algorithm_id)
        found = service.get_version(session, algorithm, version)
    except service.AlgorithmError as error:
        raise _raise(error) from None
    return VersionPublic.model_validate(found, from_attributes=True)
