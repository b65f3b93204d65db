"""Proposals and undo, as plain Python that needs no widget.

A method run (SeFa, PCA, Discover) never changes the sliders: its directions wait here as a *proposal* until the
user applies or discards it. Applying keeps every direction the user named, starred, annotated or hid, and adds
no copy of a direction the sliders keep (re-applying SeFa after naming its directions must not put unnamed twins
beside the named ones). ``undo`` steps back through applied proposals and carries over directions named since.
The Explorer holds one ``Proposals`` and publishes what it says; scripts and tests can use it on banks alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..directions import DirectionBank
from .values import Refused, choice

AUTO_LABEL = re.compile(r"^(sefa|discovery|pc|pca|random|axis|direction|coordinate) \d+$")
DUPLICATE_COSINE = 0.999  # |cosine| above this (same layers): a proposal's direction is one the sliders already have


def touched(bank: DirectionBank, i: int) -> bool:
    """The user named, starred, annotated or hid direction i: no method run may replace it."""
    return bool(bank.starred[i] or bank.notes[i] or bank.hidden[i] or not AUTO_LABEL.match(bank.labels[i]))


def kept_indices(bank: DirectionBank) -> list[int]:
    return [i for i in range(len(bank)) if touched(bank, i)]


def keys(bank: DirectionBank) -> list[bytes]:
    """Each direction's identity across banks: its vector and layer range (select/extend copy vectors exactly);
    one device-to-host copy for the whole bank."""
    rows = bank.directions.detach().cpu().numpy()
    return [rows[i].tobytes() + str(bank.layers[i]).encode() for i in range(len(rows))]


def duplicates(bank: DirectionBank, of: DirectionBank, threshold: float = DUPLICATE_COSINE) -> dict[int, int]:
    """Which directions of ``bank`` are already in ``of``: {index in bank: index in of} where |cosine| >
    ``threshold`` and the layer ranges agree (the same vector on other layers is another direction)."""
    if not len(bank) or not len(of):
        return {}
    a = bank.directions.detach().double().cpu()
    b = of.directions.detach().double().cpu()
    cos = (a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)) @ (b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)).T
    found = {}
    for i in range(len(bank)):
        for j in cos[i].abs().argsort(descending=True).tolist():
            if abs(float(cos[i, j])) <= threshold:
                break
            if str(bank.layers[i] or "all") == str(of.layers[j] or "all"):
                found[i] = j
                break
    return found


@dataclass
class Proposal:
    """Directions a method run found, waiting for the user to apply or discard them."""

    id: int
    method: str
    bank: DirectionBank
    complete: bool = True
    summary: str = ""
    preview: str = ""  # PNG data URL of a small traversal grid
    preview_note: str = ""

    def meta(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "k": len(self.bank), "complete": self.complete,
                "summary": self.summary, "preview": self.preview, "preview_note": self.preview_note}


@dataclass
class Applied:
    """What applying a proposal did: the new bank, and what the message to the user should say."""

    bank: DirectionBank
    proposal: Proposal
    mode: str
    fresh: list[int] = field(default_factory=list)  # the proposal's directions that were added
    duplicates: dict[int, int] = field(default_factory=dict)  # proposal index -> kept index it equals
    kept: list[int] = field(default_factory=list)  # indices of the directions kept from before
    named_duplicates: int = 0  # of the duplicates, those equal to a direction the user named

    def message(self) -> str:
        p, notes = self.proposal, []
        if self.duplicates:
            notes.append(f"{len(self.duplicates)} already present, not added again"
                         + (", kept your names" if self.named_duplicates else ""))
        if self.kept and self.mode == "replace":
            notes.append(f"kept {len(self.kept)} of yours")
        n = len(self.fresh)
        return (f"applied {p.method} #{p.id}: {n} new direction{'' if n == 1 else 's'}"
                f"{' (' + '; '.join(notes) + ')' if notes else ''}; undo reverts")


@dataclass
class Undone:
    bank: DirectionBank
    what: str
    carried: int  # directions named since the change, carried over

    def message(self) -> str:
        extra = f"; kept {self.carried} direction(s) you named since" if self.carried else ""
        return f"undone: {self.what} (the proposal is open again){extra}"


class Proposals:
    """The open proposals and the undo steps of one set of sliders."""

    def __init__(self) -> None:
        self.open: list[Proposal] = []
        self.steps: list[tuple[DirectionBank, str, Proposal | None]] = []
        self._next_id = 1

    def add(self, method: str, bank: DirectionBank, complete: bool = True, summary: str = "") -> Proposal:
        """A new open proposal (the caller may attach a preview before publishing it)."""
        proposal = Proposal(self._next_id, method, bank, complete, summary)
        self._next_id += 1
        self.open.append(proposal)
        return proposal

    def get(self, proposal: int | None = None) -> Proposal:
        """Proposal ``proposal`` (an id), or the newest; refused with the open ids when there is none."""
        if not self.open:
            raise Refused("there is no proposal to apply: run SeFa, PCA or Discover first")
        if proposal is None:
            return self.open[-1]
        for p in self.open:
            if p.id == int(proposal):
                return p
        raise Refused(f"no proposal {proposal}: the open ones are {[p.id for p in self.open]}")

    def discard(self, proposal: int | None = None) -> Proposal:
        p = self.get(proposal)
        self.open.remove(p)
        return p

    def apply(self, current: DirectionBank, proposal: int | None = None, mode: str = "replace") -> Applied:
        """The bank the sliders get: ``replace`` keeps the user's directions and adds the proposal's; ``add`` keeps
        all current ones. Either way a proposal direction equal to a kept one is not added again. The change is
        an undo step; the proposal is no longer open."""
        mode = choice(mode, "mode", ("replace", "add"))
        p = self.get(proposal)
        kept = list(range(len(current))) if mode == "add" else kept_indices(current)
        staying = current.select(kept) if kept else None
        dup = duplicates(p.bank, staying) if staying is not None else {}
        fresh = [i for i in range(len(p.bank)) if i not in dup]
        if staying is None:
            new = p.bank.select(fresh)
        else:
            new = staying.extend(p.bank.select(fresh)) if fresh else staying.select(range(len(staying)))
        named = sum(1 for j in set(dup.values()) if not AUTO_LABEL.match(staying.labels[j])) if dup else 0
        self.steps.append((current, f"{p.method} #{p.id} applied", p))
        self.open.remove(p)
        return Applied(new, p, mode, fresh, dup, kept, named)

    def undo(self, current: DirectionBank) -> Undone:
        """The bank before the last applied change, plus the directions the user named since (never dropped);
        the undone proposal is open again."""
        if not self.steps:
            raise Refused("nothing to undo")
        restored, what, proposal = self.steps.pop()
        known, ours = set(keys(restored)), keys(current)
        carried = [i for i in kept_indices(current) if ours[i] not in known]
        new = restored.select(range(len(restored)))
        if carried:
            new = new.extend(current.select(carried))
        if proposal is not None and proposal not in self.open:  # apply it again later if you like
            self.open.append(proposal)
        return Undone(new, what, len(carried))

    def step_names(self) -> list[str]:
        return [what for _, what, _ in self.steps]

    def meta(self) -> list[dict[str, Any]]:
        return [p.meta() for p in self.open]
