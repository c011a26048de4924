"""RFC 7644 §3.4.2.2 filters as SQLAlchemy conditions. The grammar is scim2-filter-parser's; this module only
maps its tree onto the attributes a resource type exposes (``Attribute``): eq, ne, co, sw, ew, gt, ge, lt, le,
pr, and, or, not, and value paths (``emails[value co "@dinkes"]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_filter_parser import ast as scim_ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser
from sqlalchemy import SQLColumnExpression, and_, false, func, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from idp.scim.responses import ScimError

MAX_FILTER = 2000
Compare = Callable[[str, str | None], ColumnElement[bool]]


@dataclass(frozen=True)
class Attribute:
    """How one filterable attribute compares: a plain column (``column``) or a function of (op, value)."""

    column: SQLColumnExpression[Any] | None = None
    kind: str = "string"  # string (case-insensitive), exact (case-exact string), boolean
    compare: Compare | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def compare_column(column: SQLColumnExpression[Any], kind: str, op: str, value: str | None) -> ColumnElement[bool]:
    if op == "pr":
        return column.is_not(None) if kind != "string" else and_(column.is_not(None), column != "")
    if value is None:
        raise ScimError(400, f"the '{op}' operator needs a value", "invalidFilter")
    if kind == "boolean":
        if value not in ("true", "false") or op not in ("eq", "ne"):
            raise ScimError(400, "booleans compare with eq or ne against true or false", "invalidFilter")
        wanted = true() if value == "true" else false()
        return column == wanted if op == "eq" else column != wanted
    left, right = (func.lower(column), value.lower()) if kind == "string" else (column, value)
    if op in ("co", "sw", "ew"):
        pattern = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}[op].format(_escape_like(right))
        return left.like(pattern, escape="\\")
    operators = {
        "eq": left.__eq__,
        "ne": left.__ne__,
        "gt": left.__gt__,
        "ge": left.__ge__,
        "lt": left.__lt__,
        "le": left.__le__,
    }
    if op not in operators:
        raise ScimError(400, f"unknown operator '{op}'", "invalidFilter")
    return operators[op](right)


def build_condition(text: str, attributes: dict[str, Attribute]) -> ColumnElement[bool]:
    """``text`` → a condition over ``attributes`` (keys lower-case: "username", "emails.value", "department")."""
    if len(text) > MAX_FILTER:
        raise ScimError(400, "the filter is too long", "invalidFilter")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as exc:  # the parser raises its own error types and the lexer plain ones
        raise ScimError(400, "the filter is not valid SCIM filter syntax", "invalidFilter") from exc
    if tree is None:
        raise ScimError(400, "the filter is empty", "invalidFilter")
    return _visit(tree, attributes, None)


def _visit(node: object, attributes: dict[str, Attribute], prefix: str | None) -> ColumnElement[bool]:
    if isinstance(node, scim_ast.Filter):
        if node.namespace is not None:
            prefix = node.namespace.attr_name.lower()
        condition = _visit(node.expr, attributes, prefix)
        return not_(condition) if node.negated else condition
    if isinstance(node, scim_ast.LogExpr):
        left, right = _visit(node.expr1, attributes, prefix), _visit(node.expr2, attributes, prefix)
        return and_(left, right) if node.op.lower() == "and" else or_(left, right)
    if isinstance(node, scim_ast.AttrExpr):
        name = _attribute_name(node.attr_path, prefix)
        attribute = attributes.get(name)
        if attribute is None:
            raise ScimError(400, f"filtering on '{name}' is not supported", "invalidFilter")
        op = node.value.lower()
        value = None if node.comp_value is None else node.comp_value.value
        if value == "null" and op in ("eq", "ne"):  # RFC 7644 §3.4.2.2: "eq null" is "not present"
            present = _compare(attribute, "pr", None)
            return present if op == "ne" else not_(present)
        return _compare(attribute, op, value)
    raise ScimError(400, "the filter is not supported", "invalidFilter")


def _compare(attribute: Attribute, op: str, value: str | None) -> ColumnElement[bool]:
    if attribute.compare is not None:
        return attribute.compare(op, value)
    assert attribute.column is not None
    return compare_column(attribute.column, attribute.kind, op, value)


def _attribute_name(path: scim_ast.AttrPath, prefix: str | None) -> str:
    name = path.attr_name.lower()
    if path.sub_attr is not None:
        name = f"{name}.{path.sub_attr.value.lower()}"
    if prefix and not name.startswith(prefix + "."):
        name = f"{prefix}.{name}"
    return name
