from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from labeling.models import (
    Annotation,
    AnnotationEvent,
    Category,
    Image,
    Invitation,
    Membership,
    Project,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class CategoryInline(admin.TabularInline):
    model = Category
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "model_spec", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline, CategoryInline]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "project",
        "width",
        "height",
        "labeling_status",
        "embedding_status",
    ]
    list_filter = ["embedding_status", "labeling_status"]
    search_fields = ["original_name", "sha256"]
    # Files are named by content and owned by their project: never re-pointed here.
    exclude = ["file", "thumbnail"]
    readonly_fields = ["project", "stored_as", "sha256", "byte_size", "width", "height", "format"]

    @admin.display(description="Stored as")
    def stored_as(self, image: Image) -> str:
        return image.file.name or ""


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "category", "status", "source", "version", "updated_at"]
    list_filter = ["status", "source"]
    readonly_fields = ["rle", "bbox", "area", "version"]


@admin.register(AnnotationEvent)
class AnnotationEventAdmin(admin.ModelAdmin):
    list_display = ["annotation_id", "action", "actor", "version", "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are made, resent and revoked on the members page (a
    link exists only when it is made, so nothing here could show or send one)."""

    list_display = ["email", "project", "role", "status", "expires_at", "invited_by"]
    list_filter = ["status", "role"]
    search_fields = ["email", "project__name"]
    exclude = ["token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
