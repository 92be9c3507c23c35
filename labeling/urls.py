from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from labeling.api.main import api
from labeling.forms import AdminLoginForm
from labeling.views import (
    accounts,
    categories,
    classifier,
    concepts,
    exports,
    health,
    images,
    labeling,
    members,
    model_versions,
    projects,
    proposals,
    quality,
    review,
    site,
    tokens,
    uploads,
)
from labeling.views.metrics import metrics_view


class IdConverter:
    """Database ids: at most 18 digits, so a huge number is a 404, not an overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

# The admin's login is throttled like ours (labeling/login_throttle.py).
admin.site.login_form = AdminLoginForm

project = "projects/<id:project_id>"

urlpatterns = [
    path("favicon.ico", site.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_create, name="project-create"),
    path(f"{project}/", projects.project_detail, name="project-detail"),
    path(f"{project}/status.json", projects.project_status, name="project-status"),
    path(f"{project}/model.json", projects.project_model_status, name="project-model-status"),
    path(f"{project}/dashboard/", projects.project_dashboard, name="project-dashboard"),
    path(f"{project}/settings/", projects.project_settings, name="project-settings"),
    path(f"{project}/members/", members.members, name="project-members"),
    path(f"{project}/members/<id:membership_id>/role", members.member_role, name="member-role"),
    path(
        f"{project}/members/<id:membership_id>/remove",
        members.member_remove,
        name="member-remove",
    ),
    path(
        f"{project}/invitations/<id:invitation_id>/resend",
        members.invitation_resend,
        name="invitation-resend",
    ),
    path(
        f"{project}/invitations/<id:invitation_id>/revoke",
        members.invitation_revoke,
        name="invitation-revoke",
    ),
    path(f"{project}/categories/", categories.categories, name="project-categories"),
    path(
        f"{project}/categories/<id:category_id>/edit",
        categories.category_update,
        name="category-update",
    ),
    path(
        f"{project}/categories/<id:category_id>/delete",
        categories.category_delete,
        name="category-delete",
    ),
    path(f"{project}/upload/", uploads.upload_page, name="image-upload-page"),
    path(f"{project}/images/upload", uploads.upload, name="image-upload"),
    path(f"{project}/images/<id:image_id>/file", images.image_file, name="image-file"),
    path(
        f"{project}/images/<id:image_id>/thumbnail", images.image_thumbnail, name="image-thumbnail"
    ),
    path(f"{project}/exports/", exports.exports, name="project-exports"),
    path(f"{project}/models/", model_versions.page, name="model-versions"),
    path(f"{project}/models/status.json", model_versions.status, name="model-versions-status"),
    path(f"{project}/models/train", model_versions.train, name="model-versions-train"),
    path(f"{project}/models/adopt", model_versions.adopt, name="model-versions-adopt"),
    path(
        f"{project}/models/runs/<id:job_id>/cancel",
        model_versions.cancel,
        name="model-versions-cancel",
    ),
    path(f"{project}/imports/", exports.imports, name="project-imports"),
    path(f"{project}/exports/status.json", exports.exports_status, name="project-exports-status"),
    path(
        f"{project}/exports/<id:export_id>/download",
        exports.export_download,
        name="export-download",
    ),
    path(f"{project}/exports/<id:export_id>/delete", exports.export_delete, name="export-delete"),
    path(f"{project}/label/", labeling.label_start, name="label-start"),
    path(f"{project}/images/<id:image_id>/label/", labeling.label_page, name="label-page"),
    path(f"{project}/images/<id:image_id>/submit", review.image_submit, name="image-submit"),
    path(f"{project}/images/<id:image_id>/review", review.image_review, name="image-review"),
    path(f"{project}/review/", review.review_page, name="project-review"),
    path(f"{project}/classifier/train", classifier.train, name="classifier-train"),
    path(f"{project}/proposals/", proposals.start, name="proposals-start"),
    path(f"{project}/quality/", quality.quality, name="project-quality"),
    path(f"{project}/quality/status.json", quality.quality_status, name="project-quality-status"),
    path(f"{project}/quality/<id:run_id>/cancel", quality.quality_cancel, name="quality-cancel"),
    path(f"{project}/proposals/filters", proposals.filters, name="proposals-filters"),
    path(f"{project}/proposals/<id:job_id>/cancel", proposals.cancel, name="proposals-cancel"),
    path(f"{project}/concepts/", concepts.start, name="concepts-start"),
    path(f"{project}/concepts/enabled", concepts.toggle, name="concepts-toggle"),
    path(f"{project}/concepts/<id:job_id>/cancel", concepts.cancel, name="concepts-cancel"),
    path(
        f"{project}/images/<id:image_id>/history.json",
        labeling.image_history_json,
        name="image-history",
    ),
    path(
        f"{project}/images/<id:image_id>/label/<str:which>",
        labeling.label_go,
        name="label-go",
    ),
    path(f"{project}/images/<id:image_id>/display", labeling.image_display, name="image-display"),
    path("api/v1/", api.urls),
    path("account/tokens/", tokens.tokens, name="api-tokens"),
    path("account/tokens/<id:token_id>/revoke", tokens.token_revoke, name="api-token-revoke"),
    path("accounts/login/", accounts.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's own password views and their default names, with our templates.
    path(
        "accounts/password/change/",
        accounts.ThrottledPasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        accounts.BoundedPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # The token is the link's secret: 43 URL-safe characters, bounded here.
    path("invitations/<str:token>/", accounts.invitation, name="invitation"),
    path("admin/", admin.site.urls),
]

# A request that waited too long for a pooled database connection is a 503 with
# Retry-After (labeling/request_gate.py), not a 500; anything else is Django's 500.
handler500 = "labeling.request_gate.server_error"
