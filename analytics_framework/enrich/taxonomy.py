"""The labeling taxonomy: topics, intents and sales-objection classes, from a TOML file.

The default ships in the package (``enrich/data/taxonomy.toml``); ``--taxonomy FILE`` replaces
it. Each category has a ``name``, a ``description`` and ``examples`` (both sent to LLMs) and
``keywords`` (used by the offline ``local`` labeler). ``topics`` and ``intents`` must each have
at least one category; ``objections`` may be empty (then no objection is ever labeled).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from analytics_framework.errors import ConfigurationError

SECTIONS = ("topics", "intents", "objections")


@dataclass(frozen=True)
class Category:
    """One label value with what explains it."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """The label values a labeler may choose from; see the module docstring."""

    topics: tuple[Category, ...]
    intents: tuple[Category, ...]
    objections: tuple[Category, ...] = ()
    source: str = field(default="default", compare=False)

    def names(self, section: str) -> list[str]:
        """Return the category names of ``topics``, ``intents`` or ``objections``."""
        return [c.name for c in getattr(self, section)]

    def fingerprint(self) -> str:
        """Return a short hash of the content (part of every label-cache key)."""
        blob = json.dumps({s: [asdict(c) for c in getattr(self, s)] for s in SECTIONS})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy from ``path``, or the packaged default when None.

    Raises:
        ConfigurationError: the file is missing, not TOML, or lacks topics/intents, or a
            category has no name or a duplicate one.
    """
    where = str(path) if path else "the default taxonomy"
    try:
        if path is None:
            text = resources.files("analytics_framework.enrich").joinpath("data/taxonomy.toml")
            doc = tomllib.loads(text.read_text(encoding="utf-8"))
        else:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"taxonomy file not found: {where}", "check --taxonomy / ANALYTICS_TAXONOMY_FILE"
        ) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read taxonomy {where}: {exc}", "fix the TOML (see the packaged default)"
        ) from None
    sections = {}
    for section in SECTIONS:
        cats = []
        for i, raw in enumerate(doc.get(section, [])):
            name = str(raw.get("name", "")).strip() if isinstance(raw, dict) else ""
            if not name:
                raise ConfigurationError(
                    f"taxonomy {where}: {section}[{i}] has no name", "give every category a name"
                )
            cats.append(
                Category(
                    name=name,
                    description=str(raw.get("description", "")),
                    keywords=tuple(str(k) for k in raw.get("keywords", [])),
                    examples=tuple(str(e) for e in raw.get("examples", [])),
                )
            )
        names = [c.name for c in cats]
        if len(set(names)) != len(names):
            raise ConfigurationError(
                f"taxonomy {where}: duplicate names in {section}", "make the names unique"
            )
        if section != "objections" and not cats:
            raise ConfigurationError(
                f"taxonomy {where} has no {section}", f"add at least one [[{section}]] entry"
            )
        sections[section] = tuple(cats)
    return Taxonomy(**sections, source=where)
