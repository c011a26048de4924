"""Every table the pruner empties is read through an index on the column its rule names.

A rule without one makes each pruning pass read the whole table, so its cost grows with the history kept (on
PostgreSQL the pass turns sequential scans off: without the index it would have no other way).
"""

from __future__ import annotations

from sqlalchemy import Column

from idp.storage.pruner import RULES


def test_each_pruning_rule_is_served_by_an_index_on_its_column() -> None:
    for rule in RULES:
        table = rule.key.class_.__table__
        columns = {element.name for element in rule.dead(0).get_children() if isinstance(element, Column)}
        assert columns == {rule.expires_at.name}, f"{table.name}: the rule names {sorted(columns)}"
        leading = {next(iter(index.columns)).name for index in table.indexes}
        assert columns <= leading, f"{table.name}: no index starts with {sorted(columns - leading)}"
