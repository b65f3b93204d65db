"""The proposal/undo model on its own: banks in, banks out, no widget built."""

import pytest
import torch

from ganexplorer import DirectionBank, sefa
from ganexplorer.widget.proposals import Proposals, duplicates
from ganexplorer.widget.values import Refused


def unit_bank(rows, **meta) -> DirectionBank:
    return DirectionBank(torch.tensor(rows, dtype=torch.float32), **meta)


def test_apply_keeps_named_directions_and_adds_no_copy_of_them():
    current = unit_bank([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], labels=["sefa 0", "thickness", "sefa 2"])
    book = Proposals()
    book.add("SeFa", unit_bank([[0, -1, 0, 0], [0, 0, 0, 1]]))  # the first is "thickness", sign flipped
    done = book.apply(current)
    assert done.bank.labels == ["thickness", "direction 1"] and len(done.bank) == 2
    assert done.duplicates == {0: 0} and done.fresh == [1] and done.kept == [1]
    assert "1 new direction" in done.message() and "1 already present" in done.message()
    assert "kept your names" in done.message() and not book.open and book.step_names() == ["SeFa #1 applied"]


def test_add_mode_adds_only_what_is_new_and_undo_reopens_the_proposal():
    current = unit_bank([[1, 0, 0], [0, 1, 0]])
    book = Proposals()
    p = book.add("PCA", unit_bank([[1, 0, 0], [0, 0, 1]]))
    done = book.apply(current, p.id, "add")
    assert len(done.bank) == 3 and done.duplicates == {0: 0}
    assert "kept your names" not in done.message()  # the twin was unnamed
    back = book.undo(done.bank)
    assert torch.equal(back.bank.directions, current.directions) and book.open == [p] and back.carried == 0


def test_undo_carries_over_directions_named_since():
    current = unit_bank([[1, 0, 0], [0, 1, 0]])
    book = Proposals()
    book.add("SeFa", unit_bank([[0, 0, 1]]))
    done = book.apply(current)
    done.bank.label(0, "mine")
    back = book.undo(done.bank)
    assert len(back.bank) == 3 and back.bank.labels[-1] == "mine" and back.carried == 1
    assert "kept 1 direction(s) you named since" in back.message()


def test_refusals_name_what_is_open():
    book = Proposals()
    with pytest.raises(Refused, match="no proposal to apply"):
        book.get()
    book.add("SeFa", unit_bank([[1.0, 0.0]]))
    with pytest.raises(Refused, match=r"no proposal 7: the open ones are \[1\]"):
        book.apply(unit_bank([[0.0, 1.0]]), 7)
    with pytest.raises(Refused, match="mode must be one of"):
        book.apply(unit_bank([[0.0, 1.0]]), 1, "merge")
    with pytest.raises(Refused, match="nothing to undo"):
        book.undo(unit_bank([[0.0, 1.0]]))
    assert len(book.open) == 1 and not book.steps  # a refusal changed nothing


def test_sefa_reapplied_finds_its_own_directions(mnist):
    a, b = sefa(mnist, k=20), sefa(mnist, k=10)
    assert duplicates(b, a) == {i: i for i in range(10)}
    assert duplicates(a, a.select(range(10, 20))) == {i: i - 10 for i in range(10, 20)}
