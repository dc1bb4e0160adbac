"""Whose figures a reader sees: the organization chosen on the dashboard and what lies below.

The committee sees its whole tree, a general branch its branches, a branch secretary their
own branch (DESIGN: a role held at an organization applies to its subtree for reading).
Figures are shown per *unit*: each branch with its party groups folded in, and the committee
or general branch itself for what it keeps of its own (opinions it received, its own cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from pbflow.engine import actors
from pbflow.engine.actors import OrgNode
from pbflow.engine.errors import NotAllowed, NotFound
from pbflow.models import User


@dataclass
class Scope:
    org: OrgNode  # the organization chosen
    nodes: list[OrgNode]  # it and everything below, in tree order
    locale: str = "zh"
    # The organization index it was resolved against (the request's): read once, not per row.
    index: dict[int, OrgNode] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = actors.org_index()
        self._units: dict[int, int] = {}
        self._names: dict[int, str] = {}
        self._groups: dict[int | None, list[int]] | None = None

    @property
    def ids(self) -> list[int]:
        return [n.id for n in self.nodes]

    @property
    def everything(self) -> bool:
        """Whether the scope is every organization (a committee at the top of the only
        tree): a condition on the organization then holds for every row and is left out
        (over a hundred values to bind and look up for nothing)."""
        return len(self.nodes) == len(self.index)

    @property
    def branches(self) -> list[OrgNode]:
        return [n for n in self.nodes if n.kind == "branch"]

    @property
    def units(self) -> list[OrgNode]:
        """Rows of the per-organization tables: every organization but party groups."""
        return [n for n in self.nodes if n.kind != "party_group"]

    @property
    def children(self) -> list[OrgNode]:
        """The organizations one level below the chosen one (groups left out): the rows of
        the grid one level up."""
        return [n for n in self.nodes if n.parent_id == self.org.id and n.kind != "party_group"]

    def parent_shown(self, org_id: int) -> int | None:
        """The organization above one in a table's row, when that is not the one chosen (nor
        is the row's organization)."""
        parent = self.index[org_id].parent_id
        return parent if parent != self.org.id and org_id != self.org.id else None

    def unit_of(self, org_id: int) -> int:
        """The row an organization's figures count in: a party group counts in its branch."""
        found = self._units.get(org_id)
        if found is None:
            node = self.index.get(org_id)
            found = org_id
            if node is not None and node.kind == "party_group" and node.parent_id is not None:
                found = node.parent_id
            self._units[org_id] = found
        return found

    def groups_of(self, branch_id: int) -> list[int]:
        groups = self._groups
        if groups is None:  # every branch's, in one walk of the tree (asked for each branch)
            groups = self._groups = {}
            for n in self.nodes:
                if n.kind == "party_group":
                    groups.setdefault(n.parent_id, []).append(n.id)
        return list(groups.get(branch_id, ()))

    def below(self, org_id: int) -> list[OrgNode]:
        """The organizations at and below ``org_id`` within the scope."""
        return [n for n in self.nodes if org_id in n.ancestor_ids()]

    def name(self, org_id: int) -> str:
        found = self._names.get(org_id)
        if found is None:
            node = self.index[org_id]
            found = self._names[org_id] = (
                node.name_en if self.locale == "en" and node.name_en else node.name
            )
        return found


def readable_roots(viewer: User) -> list[OrgNode]:
    """The highest organizations the viewer reads, in tree order."""
    index = actors.org_index()
    roots = actors.read_roots(viewer.id)
    nodes = [index[o] for o in roots if o in index]
    top = [n for n in nodes if not any(a in roots for a in n.ancestor_ids()[:-1])]
    return sorted(top, key=lambda n: n.path)


def may_supervise(viewer: User) -> bool:
    """Whether the viewer reads any organization. The top bar asks it on every page: from
    the viewer's roles alone (read by every page), without the organization tree (a page
    that needs no tree read all of it for this link: a millisecond of a small page). A role
    names an organization that exists (a foreign key), so ``readable_roots`` would find
    it."""
    return actors.reads_anything(viewer.id)


def require_supervisor(viewer: User) -> list[OrgNode]:
    """The viewer's highest organizations; refused when they read none. The pages ask this
    before they read their query, so that whoever may not open them is told so, whatever
    the query says (not that its period or its organization is malformed)."""
    roots = readable_roots(viewer)
    if not roots:
        raise NotAllowed(_("The supervision pages are for those who read an organization."))
    return roots


def resolve(viewer: User, org_id: int | None, locale: str = "zh") -> Scope:
    """The scope of the dashboard for ``org_id`` (the viewer's highest organization when
    None). Another organization than one the viewer reads is "not found", as elsewhere."""
    roots = require_supervisor(viewer)
    index = actors.org_index()
    if org_id is None:
        org = roots[0]
    elif org_id in index and actors.can_read_org(viewer, org_id):
        org = index[org_id]
    else:
        raise NotFound(_("No such organization."))
    nodes = sorted((n for n in index.values() if org.id in n.ancestor_ids()), key=lambda n: n.path)
    return Scope(org, nodes, locale, index)


def org_name(org_id: int) -> str:
    """An organization's name in the page's language."""
    from flask_babel import get_locale

    node = actors.org_index().get(org_id)
    if node is None:
        return ""
    return node.name_en if str(get_locale() or "zh") == "en" and node.name_en else node.name
