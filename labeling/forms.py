from __future__ import annotations

from django import forms

from labeling.models import Category, Project, Role, hex_colour


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


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
