"""Human times in templates: `{{ value|when }}` renders a <time> element reading
"3 minutes ago" (or "in 6 days"), with the exact time in its tooltip. static/js/human.js
then rewrites the text in the reader's own words and time zone, and keeps it fresh."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

register = template.Library()


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return value


def relative(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '3 minutes ago', 'in 6 days' (the largest unit only)."""
    now = now or timezone.now()
    if abs((now - moment).total_seconds()) < 60:
        return "just now"
    if moment <= now:
        return f"{timesince(moment, now, depth=1)} ago"
    return f"in {timeuntil(moment, now, depth=1)}"


@register.filter
def when(value: datetime | str | None) -> SafeString | str:
    moment = _as_datetime(value)
    if moment is None:
        return "—" if not value else str(value)
    exact = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
    return format_html(
        '<time datetime="{}" title="{}" data-when>{}</time>',
        moment.isoformat(),
        exact,
        relative(moment),
    )
