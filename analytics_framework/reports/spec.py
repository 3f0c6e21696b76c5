"""What a report declares: its SQL, its options, its look-ahead, its columns with display metadata.

A report is one SQL file in ``reports/sql/`` and one :class:`Report` in
:mod:`analytics_framework.reports.catalog`. The engine fills and runs the SQL; renderers (table,
JSON, CSV, charts) read the :class:`Column` metadata — label, unit, section — so nothing outside
the declaration names a report's columns.

Units and the precision every output rounds to (one rounding, in
:class:`~analytics_framework.reports.result.ReportResult`, so the same lake always gives
byte-identical outputs):

==========  ===========================================  =========
unit        meaning                                      decimals
==========  ===========================================  =========
seconds     a duration, seconds                          3
percent     a percentage, 0-100                          2
ratio       a mean, a share 0-1, sentiment -1..1         4
count       an integer count                             –
text/date   labels, ids, ISO dates                       –
==========  ===========================================  =========
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

UNIT_DECIMALS = {"seconds": 3, "percent": 2, "ratio": 4}
"""Decimals kept per unit; counts are integers and text is text."""


@dataclass(frozen=True)
class Column:
    """One output column of a report.

    Attributes:
        name: the SQL column name (also the JSON/CSV key).
        label: the header people read in a table (``FRT p50``).
        unit: ``seconds``, ``percent``, ``ratio``, ``count``, ``text`` or ``date``.
        section: the table section it is shown in (``volume``, ``speed`` …); a key column
            (see :attr:`Report.keys`) has none.
        description: one line for docs and chart captions.
    """

    name: str
    label: str
    unit: str = "count"
    section: str = ""
    description: str = ""

    @property
    def decimals(self) -> int | None:
        """Decimals its floats keep, or None (not rounded)."""
        return UNIT_DECIMALS.get(self.unit)


@dataclass(frozen=True)
class Option:
    """A report's own option, beyond the common ones (``--limit``, ``--sort``, …).

    Attributes:
        name: the parameter name (``limit``); the CLI flag is ``--limit``.
        default: its value when not given.
        help: one line for ``--help``.
        choices: allowed values, or None for any.
    """

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None


INCLUDE = re.compile(r"^-- @include ([a-z_]+\.sql)\n", re.MULTILINE)
"""A shared SQL part named in a report's SQL file (:meth:`Report.sql`)."""


@dataclass(frozen=True)
class Report:
    """A named report.

    Attributes:
        name: registry name (``analytics report NAME``).
        sql_file: its SQL file in ``reports/sql/``.
        description: one line for ``--help`` and the README.
        columns: every output column, in order, with display metadata.
        keys: the columns that identify a row (``period``, ``org_id``, ``agent_id`` …); tables
            repeat them in every section.
        lookahead_days: days after ``--end-date`` the SQL may read (windows such as FCR's 7
            days look past the range); bounds partition pruning.
        options: the report's own options.
        requires: tables that must hold data (``labels``, ``stage_changes``); without them the
            report says what to run instead of returning empty rows.
        example: a command line shown in ``--help``.
        by: groupings ``--by`` accepts (``org`` for most; ``assignment`` for agents).
        optional: tables the report reads that only some sources fill (``stage_changes``);
            without them the report is empty on purpose: no error, exit 0, and the result
            carries :attr:`empty_note`.
        empty_note: the one line shown then instead of "no conversations match the filters".
        fallback_sql_file: the same report computed from the messages, run instead of
            ``sql_file`` (which reads a rollup written at load time) when ``--timezone`` has an
            offset that is not a whole number of quarter-hours, or when ``rollup_check`` (a
            query returning one boolean: do all conversations carry the rollup?) says no.
        rollup_check: see ``fallback_sql_file``.
    """

    name: str
    sql_file: str
    description: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...] = ("period",)
    lookahead_days: int = 1
    options: tuple[Option, ...] = ()
    requires: tuple[str, ...] = ()
    example: str = ""
    by: tuple[str, ...] = ("org",)
    optional: tuple[str, ...] = ()
    empty_note: str = ""
    fallback_sql_file: str = ""
    rollup_check: str = ""

    def sql(self, sql_file: str = "") -> str:
        """Return the report's SQL text (or that of ``sql_file``), from the package.

        A line ``-- @include NAME.sql`` is replaced by that file of ``reports/sql/`` (a part
        several reports share: FCR's repeated contacts, the activity report's end).
        """
        sql_dir = resources.files("analytics_framework.reports").joinpath("sql")
        text = sql_dir.joinpath(sql_file or self.sql_file).read_text()
        return INCLUDE.sub(lambda m: sql_dir.joinpath(m.group(1)).read_text(), text)

    def column(self, name: str) -> Column:
        """Return the declared column ``name`` (an undeclared one reads as a plain count)."""
        for c in self.columns:
            if c.name == name:
                return c
        return Column(name, name, "text" if name in ("period",) else "count")

    def option(self, name: str) -> Option | None:
        """Return the report's own option ``name``, or None."""
        return next((o for o in self.options if o.name == name), None)
