"""Temporal core: the Mamba-Hawkes Process (paper §3.2, App. B-D, Eq. 1).

Public API (everything in seconds at the edges; models work in ``time_unit_s`` units):

Data
    ``EventVocab(types)``; ``EventSequence(times_s, types, t_end_s=None, key=None)``;
    ``make_batch(sequences, n_types, time_unit_s, max_len=None) -> EventBatch``;
    ``sequences_from_frame(df, vocab, id_col, t_col, type_col, window_s=None)``;
    ``load_sequences(session, vocab, video_ids=None, window_s=None)`` (SQL event log).

Scan
    ``selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
    return_last_state=False)`` (mamba-ssm's signature; the backend is chosen by
    ``scan_backend(device)``) and the reference ``selective_scan_ref`` (same signature).

Model
    ``MHPConfig``; ``MHP(config)`` (an ``nn.Module``) with
    ``encode(batch) -> History``, ``intensity(history, query (B, Q)) -> IntensityParts``
    (``hawkes``, ``correction``, ``total``, each (B, Q, K)),
    ``loglik(batch, n_mc) -> LogLikelihood`` (``.nll_per_event()`` is the training loss, usable
    for joint training), ``sim_*`` (simulation interface).

Signatures and forecasts
    ``temporal_signature(mhp, sequences | batch, length) -> Signature`` (``X`` (B, L, d),
    ``pooled`` (B, d), ``cold_start`` (B,)); ``forecast(...) -> Forecast`` (numpy arrays).

One interface for the MHP and baselines (``m3tr.core.temporal.models``)
    ``MHPModel(config)``, ``NeuralHawkesModel(config)``, ``ClassicalHawkesModel(K)``,
    ``PoissonModel(K)``, ``build_model(name, K)``: ``fit(sequences, TrainConfig)``,
    ``loglik(sequences) -> LogLikSummary`` (``per_event``), ``forecast(sequence, t_obs_s,
    horizon_s) -> Forecast``; ``MHPModel.signature(sequences, L)``;
    ``PadMaskSignature(mhp).signature(batch, L)`` (no point process).

Checkpoints
    ``save_mhp(mhp, directory)``, ``load_mhp(directory)`` (safetensors + JSON config).
"""

from m3tr.core.temporal.batch import (
    EventBatch,
    EventSequence,
    EventSequenceError,
    EventVocab,
    UnknownEventTypeError,
    make_batch,
    sequences_from_frame,
)
from m3tr.core.temporal.checkpoint import load_mhp, save_mhp
from m3tr.core.temporal.config import MHPConfig, TrainConfig
from m3tr.core.temporal.forecast import Forecast, forecast
from m3tr.core.temporal.likelihood import LogLikelihood
from m3tr.core.temporal.mhp import MHP, History, IntensityParts
from m3tr.core.temporal.models import (
    ClassicalHawkesModel,
    LogLikSummary,
    MHPModel,
    NeuralHawkesModel,
    PoissonModel,
    TemporalModel,
    build_model,
)
from m3tr.core.temporal.scan import scan_backend, selective_scan, selective_scan_ref
from m3tr.core.temporal.signature import Signature, temporal_signature
from m3tr.core.temporal.sql_source import load_sequences
from m3tr.core.temporal.training import FitReport, fit_mhp

__all__ = [
    "MHP",
    "ClassicalHawkesModel",
    "EventBatch",
    "EventSequence",
    "EventSequenceError",
    "EventVocab",
    "FitReport",
    "Forecast",
    "History",
    "IntensityParts",
    "LogLikSummary",
    "LogLikelihood",
    "MHPConfig",
    "MHPModel",
    "NeuralHawkesModel",
    "PoissonModel",
    "Signature",
    "TemporalModel",
    "TrainConfig",
    "UnknownEventTypeError",
    "build_model",
    "fit_mhp",
    "forecast",
    "load_mhp",
    "load_sequences",
    "make_batch",
    "save_mhp",
    "scan_backend",
    "selective_scan",
    "selective_scan_ref",
    "sequences_from_frame",
    "temporal_signature",
]
