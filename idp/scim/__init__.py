"""SCIM 2.0 service provider (RFC 7643 / RFC 7644) at ``/scim/v2/``: the staffing system provisions ASN.

responses.py  SCIM errors and list responses (application/scim+json)
auth.py       the caller: an OAuth client's access token with the ``scim`` scope, limited to its OPD subtree
discovery.py  ServiceProviderConfig, ResourceTypes, Schemas (built with scim2-models)
filters.py    a parsed filter (scim2-filter-parser) as a SQLAlchemy condition
users.py      User (+ enterprise extension: employeeNumber = NIP, department/organization = OPD unit)
groups.py     Group = one OPD unit's role ("dinkes/perawat")
deprovision.py what deactivating, deleting or moving a person ends: sessions, tokens, gateway sessions
endpoints.py  the routes
"""
