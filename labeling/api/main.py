"""The NinjaAPI object: token auth on every operation, our errors as JSON."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI

from labeling.api import (
    annotations,
    classifier,
    concepts,
    evaluations,
    exports,
    members,
    model_versions,
    projects,
)
from labeling.api.auth import TokenAuth, user_of
from labeling.api.schemas import AnnotationOut, Me
from labeling.api.throttle import TokenOwnerRate
from labeling.services.annotations import AnnotationNotFound, VersionConflict
from labeling.services.errors import ServiceError
from labeling.services.undo import RestoreConflict

api = NinjaAPI(
    title="Anymask API",
    version="1",
    description=(
        "Projects, images, categories, masks and COCO exports. Authenticate with a "
        "personal token from your account page: `Authorization: Bearer am_…`. "
        "The token acts as you, with your roles in each project."
    ),
    auth=TokenAuth(),
    throttle=TokenOwnerRate(),
    urls_namespace="api-1",
)
api.add_router("", projects.router)
api.add_router("", annotations.router)
api.add_router("", exports.router)
api.add_router("", classifier.router)
api.add_router("", members.router)
api.add_router("", evaluations.router)
api.add_router("", concepts.router)
api.add_router("", model_versions.router)


@api.get("/me", response=Me, tags=["account"])
def me(request: HttpRequest) -> Me:
    """Who the token belongs to: a quick check that a token works."""
    return Me(username=user_of(request).username)


@api.exception_handler(VersionConflict)
def on_conflict(request: HttpRequest, exc: VersionConflict) -> HttpResponse:
    current = AnnotationOut.from_orm(exc.current).model_dump(mode="json")
    return api.create_response(request, {"detail": exc.message, "current": current}, status=409)


@api.exception_handler(RestoreConflict)
def on_restore_conflict(request: HttpRequest, exc: RestoreConflict) -> HttpResponse:
    # The mask is gone again: there is no current one to send.
    return api.create_response(request, {"detail": exc.message}, status=409)


@api.exception_handler(AnnotationNotFound)
def on_gone(request: HttpRequest, exc: AnnotationNotFound) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=404)


@api.exception_handler(ServiceError)
def on_refused(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message, "field": exc.field}, status=400)


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # Never the exception's text: it could say whose project an id belongs to.
    return api.create_response(request, {"detail": "Not found."}, status=404)
