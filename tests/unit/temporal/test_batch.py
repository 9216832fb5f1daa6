"""Padded batches: layout, truncation, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from m3tr.core.temporal.batch import (
    EventSequence,
    EventSequenceError,
    EventVocab,
    UnknownEventTypeError,
    make_batch,
    sequences_from_frame,
)
from m3tr.core.temporal.batch_ops import append_events, repeat_rows, select_rows


def test_layout_with_bos_and_padding():
    seqs = [EventSequence([3600.0, 7200.0], [1, 0], 10800.0), EventSequence([], [], 100.0)]
    b = make_batch(seqs, n_types=2, time_unit_s=3600.0)
    assert b.times.shape == (2, 3)
    assert b.times[0].tolist() == [0.0, 1.0, 2.0]
    assert b.types[0].tolist() == [2, 1, 0] and b.types[1].tolist() == [2, 2, 2]
    assert b.mask.tolist() == [[True, True, True], [True, False, False]]
    assert b.dt[0].tolist() == [0.0, 1.0, 1.0] and b.dt[1].tolist() == [0.0, 0.0, 0.0]
    assert b.lengths.tolist() == [2, 0]
    assert b.t_end.tolist() == pytest.approx([3.0, 100 / 3600])


def test_truncation_ends_window_at_first_dropped_event():
    s = EventSequence([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0], 10.0)
    b = make_batch([s], 1, 1.0, max_len=2)
    assert b.lengths.tolist() == [2] and b.t_end.tolist() == [3.0]


@pytest.mark.parametrize(
    "times,types,end,match",
    [
        ([2.0, 1.0], [0, 0], None, "decrease"),
        ([float("nan")], [0], None, "finite"),
        ([-1.0], [0], None, "negative"),
        ([1.0], [0, 1], None, "types"),
        ([5.0], [0], 1.0, "before the last event"),
    ],
)
def test_bad_sequences_are_refused(times, types, end, match):
    with pytest.raises(EventSequenceError, match=match):
        EventSequence(times, types, end, key="v1")


def test_unknown_types():
    vocab = EventVocab(("like", "comment"))
    with pytest.raises(UnknownEventTypeError, match="share"):
        vocab.encode(["like", "share"], where="video 7")
    assert vocab.encode(["like", "share"], unknown="drop").tolist() == [0, -1]
    with pytest.raises(UnknownEventTypeError, match="outside"):
        make_batch([EventSequence([1.0], [5], key="v")], 2, 1.0)


def test_sequences_from_frame_groups_and_windows():
    df = pd.DataFrame(
        {
            "video_id": [2, 1, 1, 1],
            "t": [5.0, 30.0, 10.0, 99.0],
            "type": ["like", "comment", "like", "like"],
        }
    )
    seqs = sequences_from_frame(df, EventVocab(("like", "comment")), window_s=50.0)
    assert [s.key for s in seqs] == [1, 2]
    assert seqs[0].times_s.tolist() == [10.0, 30.0] and seqs[0].types.tolist() == [0, 1]
    assert seqs[0].t_end_s == 50.0


def test_batch_ops_roundtrip():
    seqs = [EventSequence([1.0], [0], 2.0), EventSequence([1.0, 1.5], [1, 1], 2.0)]
    b = make_batch(seqs, 2, 1.0)
    r = repeat_rows(b, 3)
    assert r.batch_size == 6 and r.lengths.tolist() == [1, 1, 1, 2, 2, 2]
    one = select_rows(b, [0])
    assert one.times.shape == (1, 2)
    ext = append_events(
        b,
        torch.tensor([[2.5, 3.0], [4.0, np.inf]]),
        torch.tensor([[1, 0], [0, 0]]),
        torch.tensor([2, 1]),
    )
    assert ext.lengths.tolist() == [3, 3]
    assert ext.times[0].tolist() == [0.0, 1.0, 2.5, 3.0]
    assert ext.types[1].tolist() == [2, 1, 1, 0]
    assert ext.t_end.tolist() == [3.0, 4.0]
    assert torch.allclose(ext.dt[0], torch.tensor([0.0, 1.0, 1.5, 0.5]))
