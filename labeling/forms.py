from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

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
    user = forms.CharField(label="Username or email", max_length=254)
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
