"""Project categories (these become the COCO categories on export)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.deletion import ProtectedError

from labeling.models import Category, Project
from labeling.services.errors import ServiceError
from labeling.wording import plural


def _clean(category: Category) -> None:
    category.name = category.name.strip()
    if not category.name:
        raise ServiceError("A category needs a name.", field="name")
    clash = Category.objects.filter(project_id=category.project_id, name__iexact=category.name)
    if category.pk:
        clash = clash.exclude(pk=category.pk)
    if clash.exists():
        raise ServiceError(f"There is already a category called {category.name!r}.", field="name")
    try:
        category.full_clean(validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ServiceError(messages[0], field=field) from None


def _save(category: Category) -> Category:
    _clean(category)
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:
        # Lost a race with someone creating the same name at the same moment.
        raise ServiceError(
            f"There is already a category called {category.name!r}.", field="name"
        ) from None
    return category


def do_create_category(
    project: Project, *, name: str, color: str, order: int | None = None
) -> Category:
    if order is None:
        highest = project.categories.aggregate(m=Max("order"))["m"]
        order = 0 if highest is None else highest + 1
    return _save(Category(project=project, name=name, color=color, order=order))


def do_update_category(
    project: Project, category_id: int, *, name: str, color: str, order: int
) -> Category:
    category = Category.objects.filter(project=project, pk=category_id).first()
    if category is None:
        raise ServiceError("No such category in this project.")
    category.name, category.color, category.order = name, color, order
    return _save(category)


def do_delete_category(project: Project, category_id: int) -> None:
    category = Category.objects.filter(project=project, pk=category_id).first()
    if category is None:
        raise ServiceError("No such category in this project.")
    in_use = category.annotations.count()
    if in_use:
        raise ServiceError(
            f"{category.name!r} is used by {plural(in_use, 'mask')}. Move them to another "
            "category before deleting it."
        )
    try:
        category.delete()
    except ProtectedError:
        # A mask was given this category between the count above and the delete.
        raise ServiceError(
            f"{category.name!r} is now used by a mask. Move its masks first."
        ) from None
