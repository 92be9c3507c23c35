"""The JSON API at /api/v1/ (django-ninja): the same services and rules as the web UI.

Every call carries a personal token (`Authorization: Bearer am_…`, made on the
account page) and acts as its user. Project access goes through
`labeling.permissions.project_access`, exactly as in the views and the socket, so a
non-member gets the same 404 a missing project gives and a role without the ability
gets 403. Lists are paginated (`limit`, `offset`) and take only the filters and sort
keys they declare: anything else is refused with 400, never silently ignored.
The generated OpenAPI schema is at /api/v1/openapi.json, the docs at /api/v1/docs.
"""
