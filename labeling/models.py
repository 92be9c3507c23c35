"""Anymask's data model: projects, people, categories, images and their masks.

Writes go through `labeling.services`, which validate first, write inside a
transaction, and queue side effects (tasks, events) on commit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# The longest review comment (on an image or a mask), wherever one is written.
REVIEW_COMMENT_MAX = 2000


def default_model_spec() -> str:
    return settings.ANYMASK_MODEL


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    # A SAM model spec: a registry name such as "sam-vit-base" or a local checkpoint dir.
    model_spec = models.CharField(max_length=500, default=default_model_spec)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Machine proposals (SAM's automatic masks) keep only masks passing these filters.
    proposal_min_iou = models.FloatField(default=0.88)
    proposal_min_stability = models.FloatField(default=0.95)
    proposal_min_area = models.PositiveIntegerField(default=100)
    # Concept prompts (SAM 3, labeling/services/concepts.py): off until an admin turns
    # them on, since the model is 3.4 GB and runs on the `concepts` workers.
    concepts_enabled = models.BooleanField(default=False)
    # The fine-tuned decoder every click, proposal and evaluation uses; null is the
    # base model. See labeling/model_versions.py.
    adopted_version = models.ForeignKey(
        "labeling.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Storage name of the category classifier that suggests categories on clicks and
    # proposals ("": none yet). Here, not only on `CategoryClassifier`, because the
    # labeling socket's one-query access check reads the project row on every click.
    category_head = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f77b4.")


class Category(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, validators=[hex_colour], default="#1f77b4")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # "Car" and "car" in one project would become two COCO categories that
            # nobody can tell apart, so names are unique regardless of case.
            models.UniqueConstraint(Lower("name"), "project", name="category_unique_name"),
        ]
        ordering = ["order", "id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class LabelingStatus(models.TextChoices):
    UNLABELED = "unlabeled", "Unlabeled"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(max_length=500)
    thumbnail = models.FileField(max_length=500, blank=True)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=8)
    # Dimensions as displayed, i.e. after the EXIF orientation has been applied.
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    byte_size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    labeling_status = models.CharField(
        max_length=16, choices=LabelingStatus.choices, default=LabelingStatus.UNLABELED
    )
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    embedding_error = models.TextField(blank=True)
    # Counts task starts, so an image that kills its worker each time (out of memory,
    # say) is given up on instead of being redelivered forever.
    embedding_attempts = models.PositiveSmallIntegerField(default=0)
    # When its latest embedding task was sent (or is due, for a delayed retry); null
    # when none was sent (the broker was down). The workers' sweep re-queues pending
    # images whose task is overdue with nothing waiting (labeling/jobs/embedding_sweep.py).
    embedding_queued_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # The lease of the worker encoding it: renewed by that worker's heartbeat while it
    # encodes, so a lease left to expire means the worker died, and the sweep re-runs
    # the image within minutes rather than after the broker's visibility timeout.
    embedding_lease_owner = models.CharField(max_length=200, blank=True)
    embedding_lease_expires = models.DateTimeField(null=True, blank=True)
    # When its embedding last became ready: the project page's time left is worked
    # out from the recent rate of these (labeling/services/embedding_progress.py).
    embedded_at = models.DateTimeField(null=True, blank=True)
    # The work queue: who "next image" handed this image to, and when they last
    # worked on it (labeling/services/claims.py). Stale after ANYMASK_CLAIM_MINUTES.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Review (labeling/services/review.py): who submitted the image, and the last
    # decision on the whole image, whose comment the annotator sees on the image.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True, max_length=REVIEW_COMMENT_MAX)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_content"),
        ]
        indexes = [
            models.Index(fields=["project", "labeling_status"]),
            # The workers' sweep looks for pending and running images every minute.
            models.Index(fields=["embedding_status"], name="image_embedding_status"),
            # The project grid's filters and sorts (labeling/services/image_grid.py),
            # each ending on the id its orders tie-break on, so a page of a large
            # project is an index range scan, not a sort of every image.
            models.Index(fields=["project", "embedding_status", "id"], name="image_grid_embedding"),
            models.Index(fields=["project", "labeling_status", "id"], name="image_grid_labeling"),
            models.Index(fields=["project", "id"], name="image_grid_uploaded"),
            models.Index(fields=["project", "original_name", "id"], name="image_grid_name"),
            # Covers the headline counts (project_counts), so the page and every poll
            # of its feed count from the index without reading the image rows.
            models.Index(
                fields=["project", "labeling_status", "embedding_status"], name="image_grid_counts"
            ),
            # The recent embedding rate reads the latest finish times of one project.
            models.Index(fields=["project", "embedded_at"], name="image_embedded_at"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name


class AnnotationStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class AnnotationSource(models.TextChoices):
    SAM = "sam", "SAM"
    MANUAL = "manual", "Manual"
    AUTO = "auto", "Automatic"
    IMPORT = "import", "Import"
    API = "api", "API"
    CONCEPT = "concept", "Concept"


class Annotation(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    # PROTECT: deleting a category must never silently delete people's masks.
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    # COCO compressed RLE: {"size": [height, width], "counts": "<string>"}.
    rle = models.JSONField()
    bbox = models.JSONField()  # COCO [x, y, width, height]
    area = models.PositiveBigIntegerField()
    status = models.CharField(
        max_length=16, choices=AnnotationStatus.choices, default=AnnotationStatus.DRAFT
    )
    source = models.CharField(max_length=16, choices=AnnotationSource.choices)
    score = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Optimistic concurrency: every write must name the version it read.
    version = models.PositiveIntegerField(default=1)
    # Idempotency key of the labeling page's "accept": a retry after a reconnect sends
    # the same key and gets the mask already saved instead of a duplicate.
    client_key = models.UUIDField(null=True, blank=True, editable=False)
    # Effort spent on the mask when it was accepted (for the team dashboard); unknown
    # for imports, machine proposals and older rows.
    clicks = models.PositiveIntegerField(null=True, blank=True)
    edit_seconds = models.FloatField(null=True, blank=True)
    # The category classifier's probability for the category it set (machine
    # proposals pre-filled with a suggestion); null when no classifier chose it.
    category_confidence = models.FloatField(null=True, blank=True)
    # The reviewer's word on this one mask (why it was rejected, say); shown next to
    # the mask to its annotator. Whole-image decisions keep theirs on the Image.
    review_comment = models.TextField(blank=True, max_length=REVIEW_COMMENT_MAX)
    # Imported as the project's ground-truth set (a COCO import marked so): the masks
    # the evaluator can judge models on (`evaluate --masks ground_truth`).
    ground_truth = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # NULL keys (rows not made by the page) never collide with each other.
            models.UniqueConstraint(
                fields=["image", "client_key"], name="annotation_unique_client_key"
            ),
        ]
        indexes = [models.Index(fields=["image", "status"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"annotation {self.pk} on image {self.image_id}"


class HistoryAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"
    # An undone delete: the same mask (same id) back, at the next version.
    RESTORED = "restored", "Restored"


class AppendOnlyError(Exception):
    """Raised when code tries to rewrite or erase history."""


class AnnotationEvent(models.Model):
    """One change to one annotation. Rows are only ever inserted.

    `annotation_id` is a plain integer rather than a foreign key so that the record
    of a deletion outlives the annotation it describes.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="history")
    annotation_id = models.BigIntegerField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=HistoryAction.choices)
    version = models.PositiveIntegerField()
    changes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} annotation {self.annotation_id} (v{self.version})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Annotation history is append-only; rows cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Annotation history is append-only; rows cannot be deleted.")


class JobStatus(models.TextChoices):
    """Where a background job (export, import, proposals) is in its life."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    # Stopped by an admin (proposal jobs, which take minutes per image on a CPU).
    CANCELED = "canceled", "Canceled"


class Job(models.Model):
    """The columns every background job's row shares: who asked and when, where the
    job is (`status`), and its progress (`done` of `total`) for the page to show.

    Each job declares its own `project` foreign key, so that each has a reverse name
    of its own (`project.exports`, `project.imports`, `project.proposal_jobs`).
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    # Touched by the running worker (labeling/jobs/job_heartbeat.py); a stale one on a
    # running row means the worker died, and the sweep queues the job again or fails it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker took the row: a job that killed its worker twice is not
    # run a third time.
    runs = models.PositiveSmallIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def progress_json(self) -> dict[str, Any]:
        """What every job's page row shows, whatever the job: its id, state, progress."""
        return {"id": self.pk, "status": self.status, "done": self.done, "total": self.total}

    def origin_json(self) -> dict[str, Any]:
        """When the job was asked for, and by whom (a username)."""
        return {
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by.username if self.created_by else None,
        }


class SegmentationFormat(models.TextChoices):
    RLE = "rle", "RLE"
    POLYGON = "polygon", "Polygons (holes kept)"


class Export(Job):
    """One COCO export of a project: its options, its progress and its file.
    Progress is in images written, out of `total` (set when the export starts)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    # Annotation statuses to include, e.g. ["approved"].
    statuses = models.JSONField()
    segmentation = models.CharField(max_length=8, choices=SegmentationFormat.choices)
    include_empty = models.BooleanField(default=False)
    with_images = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # Storage name of the finished file (annotations.json, or a zip with the images).
    file = models.CharField(max_length=500, blank=True)
    byte_size = models.PositiveBigIntegerField(default=0)
    image_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    # Masks of an included status left out because they have no category (COCO
    # requires one); shown next to the export so nobody is surprised.
    skipped_uncategorized = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"export {self.pk} of {self.project}"


class Presence(models.Model):
    """One open labeling socket: who is looking at which image right now.

    Rows are written when a socket opens, refreshed by its heartbeat and deleted when
    it closes; a row whose socket died without closing (a killed server) goes stale
    after `labeling.services.presence.STALE_SECONDS`, stops counting, and is swept.
    """

    channel_name = models.CharField(max_length=200, unique=True)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        # The heartbeat's sweep looks for stale rows every few seconds.
        indexes = [models.Index(fields=["seen_at"], name="presence_seen_at")]

    def __str__(self) -> str:
        return f"{self.user} on image {self.image_id}"


class CocoImport(Job):
    """One uploaded COCO file and what became of it (labeling/coco_import.py)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    original_name = models.CharField(max_length=255)
    file = models.CharField(max_length=500)  # storage name of the uploaded JSON
    create_categories = models.BooleanField(default=False)
    # The file is a ground-truth set: its masks are marked `Annotation.ground_truth`.
    ground_truth = models.BooleanField(default=False)
    # Item-by-item problems ("annotations[3] (id 17): ..."); any one means nothing
    # was imported.
    errors = models.JSONField(default=list)
    imported = models.PositiveIntegerField(default=0)
    categories_created = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"import {self.pk} into {self.project}"


class ProposalJob(Job):
    """Automatic masks for some images of a project, run in the background."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="proposal_jobs")
    image_ids = models.JSONField()
    proposals = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Where the running job is inside its current image: which image, and how many
    # of that image's grid clicks are decoded (written at most twice a second).
    current_image = models.CharField(max_length=255, blank=True)
    points_done = models.PositiveIntegerField(default=0)
    points_total = models.PositiveIntegerField(default=0)
    # Why images got no proposals: [{"image": name, "reason": text}], the first
    # EMPTY_NOTES_MAX of them (labeling/services/proposals.py), and how many in all.
    empty_notes = models.JSONField(default=list, blank=True)
    empty_images = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"proposals {self.pk} for {self.project}"


class ConceptJob(Job):
    """Find all: SAM 3 concept proposals for some images and categories of a project.
    `counts` is proposals per category id (as a string key, JSON's)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="concept_jobs")
    image_ids = models.JSONField()
    category_ids = models.JSONField()
    threshold = models.FloatField(default=0.5)
    counts = models.JSONField(default=dict)
    proposals = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"concepts {self.pk} for {self.project}"


class ConceptQueryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"


class ConceptQuery(models.Model):
    """One concept query of a labeling socket, between the socket and a `concepts`
    worker: the socket writes it, the worker answers in `result` (or `error`) and
    nudges the socket's channel. A newer query of the same socket marks the older
    ones superseded, and the worker skips (or drops the answer of) a superseded one.
    Rows are deleted once answered; the sweep removes abandoned ones."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=200)
    request_id = models.PositiveIntegerField()
    params = models.JSONField()
    status = models.CharField(
        max_length=10, choices=ConceptQueryStatus.choices, default=ConceptQueryStatus.QUEUED
    )
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "status"], name="concept_query_channel")]

    def __str__(self) -> str:
        return f"concept query {self.request_id} of {self.channel}"


class ApiToken(models.Model):
    """A personal token for the JSON API; it acts as its user, with their roles.

    Only a SHA-256 of the token is stored: the token itself is shown once, when it is
    made, and a leaked database gives nobody a usable token.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so a person can tell their tokens apart in the list.
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # After this the token opens nothing (null: it never expires, if its owner chose so).
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    # A resend makes a new invitation; the old link says it was replaced.
    REPLACED = "replaced", "Replaced"


class Invitation(models.Model):
    """A one-time link to join a project with a role (labeling/services/invitations.py).

    Only a digest of the link's token is kept, like API tokens. Expiry is a time,
    not a status: a pending invitation past `expires_at` opens nothing.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open invitation per address and project: inviting again resends.
            models.UniqueConstraint(
                Lower("email"),
                "project",
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} to {self.project} as {self.role} ({self.status})"


class ModelState(models.TextChoices):
    DOWNLOADING = "downloading", "Downloading"
    LOADING = "loading", "Loading"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ModelStatus(models.Model):
    """Where a model spec last stood in any process that loads models (a worker or a
    web process): written by `services.model_status` as loads move on, read by the
    project and labeling pages. One row per spec; the latest writer wins, which is
    what a page wants to show (a failure is replaced by a later success)."""

    spec = models.CharField(max_length=500, unique=True)
    state = models.CharField(max_length=12, choices=ModelState.choices)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    # When the current download began (for its rate and the time left).
    download_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.spec}: {self.state}"


# Defined in its own module to keep this one in bounds; imported here so Django finds it.
from labeling.category_classifier import CategoryClassifier  # noqa: E402, F401
from labeling.evaluation_models import EvaluationRun  # noqa: E402, F401
from labeling.image_tallies import ImageTally  # noqa: E402, F401
from labeling.model_versions import ModelVersion, TrainingJob  # noqa: E402, F401
