"""What an administrator may see, as SQL conditions for the admin stores (``listings``, ``accounts``, ``org_tree``,
``traffic_view``): the listing is narrowed in the query, not after it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, SQLColumnExpression, false, or_, true

from gateway.admin.actor import Actor


def build_scope_clause(actor: Actor, path_column: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """The SQL condition "this row's unit is visible to ``actor``" (subtrees for admins, exact unit for operators)."""
    if actor.kominfo:
        return true()
    conditions = [path_column.startswith(root, autoescape=True) for root in actor.admin_paths]
    if actor.operator_paths:
        conditions.append(path_column.in_(actor.operator_paths))
    return or_(*conditions) if conditions else false()


def build_managed_clause(actor: Actor, path_column: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """Like ``build_scope_clause`` but for what only administrators see (users, clients): no operator units."""
    if actor.kominfo:
        return true()
    conditions = [path_column.startswith(root, autoescape=True) for root in actor.admin_paths]
    return or_(*conditions) if conditions else false()
