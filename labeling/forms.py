from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    UserCreationForm,
)
from django.contrib.auth.models import User
from django.http import HttpRequest

from labeling.login_throttle import (
    Pause,
    allow_reset_email,
    client_address,
    paused,
    record_failure,
    record_success,
)
from labeling.models import Category, Project, Role, hex_colour
from labeling.services.model_status import model_choice_label
from labeling.services.projects import allowed_model_specs


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "model_spec"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"model_spec": "SAM model"}
        help_texts = {
            "model_spec": "Every image is encoded once with this model. Changing it later "
            "re-encodes the whole project."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specs = allowed_model_specs()
        current = self.instance.model_spec if self.instance.pk else None
        if current and current not in specs:  # kept after the operator dropped it
            specs.append(current)
        self.fields["model_spec"] = forms.ChoiceField(
            label="SAM model",
            choices=[(spec, model_choice_label(spec)) for spec in specs],
            help_text=self.Meta.help_texts["model_spec"],
        )
        if not self.instance.pk:
            self.fields["model_spec"].initial = settings.ANYMASK_MODEL


class AddMemberForm(forms.Form):
    user = forms.CharField(label="Username or email", max_length=254, strip=True)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=Category._meta.get_field("name").max_length)
    color = forms.CharField(
        max_length=7,
        validators=[hex_colour],
        initial="#1f77b4",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    order = forms.IntegerField(min_value=0, max_value=1_000_000, required=False)


class ThrottledLogin:
    """Login-form behaviour shared by our login page and the admin's
    (labeling/login_throttle.py): refuse while paused, count failures."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    pause: Pause | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request) if self.request else "unknown"
        self.pause = paused(username, address)
        if self.pause is not None:
            # Before the password is checked: the right one does not get in either.
            raise forms.ValidationError(self.pause.message, code="throttled")
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            self.pause = record_failure(username, address)
            if self.pause is not None:
                raise forms.ValidationError(self.pause.message, code="throttled") from None
            raise
        if getattr(self, "user_cache", None) is not None:  # not a form missing its password
            record_success(username, address)
        return cleaned


class LoginForm(ThrottledLogin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLogin, AdminAuthenticationForm):
    pass


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change with the old password guarded like a login: a stolen
    session must not become a way to guess the password it does not know. Guesses
    count against the same (account, address) bars as logins; the view sets
    `address`."""

    address = "unknown"
    pause: Pause | None = None

    def clean_old_password(self) -> str:
        username = self.user.get_username()
        self.pause = paused(username, self.address)
        if self.pause is not None:
            raise forms.ValidationError(self.pause.message, code="throttled")
        try:
            old: str = super().clean_old_password()
        except forms.ValidationError:
            self.pause = record_failure(username, self.address)
            if self.pause is not None:
                raise forms.ValidationError(self.pause.message, code="throttled") from None
            raise
        record_success(username, self.address)
        return old


class InvitedAccountForm(UserCreationForm):
    """A new account for an invited address: the address comes from the invitation
    (set on the instance before validation, so passwords like it are refused)."""

    first_name = forms.CharField(label="Display name (optional)", max_length=150, required=False)

    class Meta(UserCreationForm.Meta):
        fields = ("username", "first_name")


class ResetForm(PasswordResetForm):
    """Django's reset form, with the number of emails it sends bounded
    (labeling/login_throttle.py); the answer never changes."""

    address = "unknown"  # the client's, set by the view (labeling/views/accounts.py)

    def get_users(self, email: str) -> Iterator[User]:
        if not allow_reset_email(email, self.address):
            return iter(())
        return super().get_users(email)  # type: ignore[return-value]
