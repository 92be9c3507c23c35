"""The project page's image grid: filters, sort and server-side paging.

A project can hold tens of thousands of images, so the page never loads them all:
the query string picks a filtered, sorted slice, the database counts it (one
aggregate) and returns one page of rows (one query, indexed by migration 0016).
The same `GridQuery` serves the page and its status feed, so the feed costs what a
page costs, whatever the project's size.

Query string parameters (all optional; a bad value is refused with a clear 400
rather than silently showing something else):

- `labeling`: a labeling status (unlabeled, in_progress, submitted, approved, rejected)
- `embedding`: an embedding status (pending, running, ready, failed)
- `assignee`: `me`, `none`, or a member's username. An image is someone's while they
  hold a live work-queue claim on it, or, once nobody does, when they submitted it.
- `sort`: `uploaded` (default), `-uploaded`, `name`, `-name`, `labeling`, `embedding`
- `per`: images per page, 1..`MAX_PER_PAGE` (default `DEFAULT_PER_PAGE`)
- `page`: the page number; past the end shows the last page
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import reverse

from labeling.image_tallies import tallies
from labeling.models import EmbeddingStatus, Image, LabelingStatus, Project
from labeling.services.claims import claim_cutoff
from labeling.services.errors import ServiceError

DEFAULT_PER_PAGE = 120
MAX_PER_PAGE = 500
PER_PAGE_CHOICES = (30, 60, DEFAULT_PER_PAGE, 240)  # the page's menu; any 1..500 works
MAX_PAGE = 1_000_000  # more pages than any project could have; bounds the offset
# Every order ends on the id, so paging is stable when names or statuses tie.
SORTS = {
    "uploaded": ("id",),
    "-uploaded": ("-id",),
    "name": ("original_name", "id"),
    "-name": ("-original_name", "-id"),
    "labeling": ("labeling_status", "id"),
    "embedding": ("embedding_status", "id"),
}
SORT_LABELS = {
    "uploaded": "Oldest first",
    "-uploaded": "Newest first",
    "name": "Name A→Z",
    "-name": "Name Z→A",
    "labeling": "Labeling status",
    "embedding": "Embedding status",
}
ASSIGNEE_MAX = 150  # Django's username max length


@dataclass(frozen=True)
class GridQuery:
    labeling: str = ""
    embedding: str = ""
    assignee: str = ""
    sort: str = "uploaded"
    per: int = DEFAULT_PER_PAGE
    page: int = 1

    def filters(self) -> dict[str, str]:
        """The parameters that differ from the defaults, page excluded (for links)."""
        found = {
            "labeling": self.labeling,
            "embedding": self.embedding,
            "assignee": self.assignee,
            "sort": "" if self.sort == "uploaded" else self.sort,
            "per": "" if self.per == DEFAULT_PER_PAGE else str(self.per),
        }
        return {key: value for key, value in found.items() if value}

    def query_string(self, page: int | None = None) -> str:
        """`?…` for this grid at `page` (this page when None), filters kept."""
        params = self.filters()
        number = self.page if page is None else page
        if number != 1:
            params["page"] = str(number)
        return "?" + urlencode(params) if params else "?"

    @property
    def filtered(self) -> bool:
        return bool(self.labeling or self.embedding or self.assignee)


def _positive(params: QueryDict, name: str, default: int, maximum: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ServiceError(f"'{name}' must be a whole number from 1 to {maximum}.", field=name)
    return int(raw)


def _choice(params: QueryDict, name: str, allowed: list[str]) -> str:
    value = params.get(name, "").strip()
    if value and value not in allowed:
        raise ServiceError(f"'{name}' must be one of: {', '.join(allowed)}.", field=name)
    return value


def check_grid_query(params: QueryDict) -> GridQuery:
    """Parse and bound the grid's query string; ServiceError (400) on a bad value."""
    assignee = params.get("assignee", "").strip()
    if len(assignee) > ASSIGNEE_MAX:
        raise ServiceError(
            f"'assignee' must be at most {ASSIGNEE_MAX} characters.", field="assignee"
        )
    return GridQuery(
        labeling=_choice(params, "labeling", list(LabelingStatus.values)),
        embedding=_choice(params, "embedding", list(EmbeddingStatus.values)),
        assignee=assignee,
        sort=_choice(params, "sort", list(SORTS)) or "uploaded",
        per=_positive(params, "per", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        page=_positive(params, "page", 1, MAX_PAGE),
    )


def _assignee_q(project: Project, user: User, assignee: str) -> Q:
    live = Q(claimed_by__isnull=False, claimed_at__gte=claim_cutoff())
    if assignee == "none":
        return ~live & Q(submitted_by__isnull=True)
    if assignee == "me":
        target_id: int | None = user.pk
    else:
        # Only members count: a username outside the project matches nothing, the
        # same as a member with no images, so the filter reveals nobody's account.
        target_id = (
            project.memberships.filter(user__username=assignee)
            .values_list("user_id", flat=True)
            .first()
        )
        if target_id is None:
            return Q(pk__in=[])
    held = Q(claimed_by_id=target_id, claimed_at__gte=claim_cutoff())
    return held | (~live & Q(submitted_by_id=target_id))


def grid_images(project: Project, user: User, query: GridQuery) -> QuerySet[Image]:
    images = Image.objects.filter(project=project)
    if query.labeling:
        images = images.filter(labeling_status=query.labeling)
    if query.embedding:
        images = images.filter(embedding_status=query.embedding)
    if query.assignee:
        images = images.filter(_assignee_q(project, user, query.assignee))
    return images.order_by(*SORTS[query.sort])


class _CountedPaginator(Paginator):
    """A paginator told its count, so a page of a large project is one bounded
    SELECT and no COUNT scan over its images."""

    def __init__(self, object_list: QuerySet[Image], per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @property
    def count(self) -> int:
        return self.known_count


def grid_page(project: Project, user: User, query: GridQuery) -> Page[Image]:
    """One page of the filtered grid: one bounded SELECT, counted from the image
    tallies unless an assignee filter needs a COUNT of its own."""
    images = grid_images(project, user, query).only(
        "id", "project_id", "original_name", "width", "height",
        "labeling_status", "embedding_status", "embedding_error",
    )  # fmt: skip
    if query.assignee:
        return Paginator(images, query.per).get_page(query.page)
    matching = sum(
        n
        for (labeling, embedding), n in tallies(project.pk).items()
        if query.labeling in ("", labeling) and query.embedding in ("", embedding)
    )
    return _CountedPaginator(images, query.per, matching).get_page(query.page)


def assignee_choices(project: Project) -> list[str]:
    """Members' usernames for the assignee filter (a project has few members)."""
    return list(
        project.memberships.order_by("user__username").values_list("user__username", flat=True)
    )


@dataclass(frozen=True)
class Tile:
    """What one grid tile shows, worked out once here: a page of a few hundred tiles
    renders in a fraction of the time the template would take to resolve URLs and
    status labels per tile."""

    pk: int
    name: str
    width: int
    height: int
    label_url: str
    thumbnail_url: str
    labeling: str
    labeling_label: str
    embedding: str
    embedding_text: str
    embedding_error: str
    claimed_name: str
    viewers: str


def grid_tiles(
    page: Page[Image],
    claims: dict[int, str],
    viewing: dict[int, list[str]],
    model_waiting: bool,
) -> list[Tile]:
    if not page.object_list:
        return []
    project_id = page.object_list[0].project_id
    # Two reverses for the page, not two per tile: the ids differ only in one spot.
    label_url = reverse("label-page", args=[project_id, 0]).replace("/images/0/", "/images/{}/")
    thumb_url = reverse("image-thumbnail", args=[project_id, 0]).replace(
        "/images/0/", "/images/{}/"
    )
    labeling_labels = dict(LabelingStatus.choices)
    embedding_labels = dict(EmbeddingStatus.choices)
    busy = {EmbeddingStatus.PENDING, EmbeddingStatus.RUNNING}
    tiles = []
    for image in page:
        status = image.embedding_status
        if model_waiting and status in busy:
            text = "waiting for the model"
        else:
            text = f"embedding {embedding_labels.get(status, status).lower()}"
        tiles.append(
            Tile(
                pk=image.pk,
                name=image.original_name,
                width=image.width,
                height=image.height,
                label_url=label_url.format(image.pk),
                thumbnail_url=thumb_url.format(image.pk),
                labeling=image.labeling_status,
                labeling_label=labeling_labels.get(image.labeling_status, ""),
                embedding=status,
                embedding_text=text,
                embedding_error=image.embedding_error,
                claimed_name=claims.get(image.pk, ""),
                viewers=", ".join(viewing.get(image.pk, [])),
            )
        )
    return tiles
