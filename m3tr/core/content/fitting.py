"""Fitting a profile's text encoder on the bank's texts, and finding the fit in use.

A profile whose ``text_encoder`` is ``"ngram"`` is not usable until fitted: :func:`fit_text_profile`
fits it (or finds the same fit on disk: the fit id hashes the settings and the texts), stores the
fitted state with the new profile version in the feature store, and returns the fitted profile.
:func:`resolve_profile` gives the fitted version currently in use (the service's default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from m3tr.core.content.config import EncoderProfile
from m3tr.core.content.ngram import corpus_id, fit_ngram_text
from m3tr.core.content.store import FeatureStore

logger = logging.getLogger(__name__)


def fit_text_profile(
    profile: EncoderProfile,
    texts: Sequence[str],
    store: FeatureStore,
    make_current: bool = False,
) -> EncoderProfile:
    """``profile`` with its text encoder fitted on ``texts`` (profiles without a fitted text
    encoder are returned unchanged).

    Args:
        texts: the bank's texts (title, description) the encoder learns its n-grams and
            projection from; never the texts of items it will be scored on.
        store: the feature store that keeps the fit beside the features it makes.
        make_current: also make it the fitted version in use (:func:`resolve_profile`).
    Returns:
        The profile with ``profile_version`` = ``<base version>.<fit id>``.
    """
    if profile.text_encoder != "ngram":
        return profile
    profile = profile.unfitted()
    fit_id = corpus_id(list(texts), profile.ngram)
    fitted = profile.with_text_fit(
        str(store.text_fit_path(f"{profile.base_version}.{fit_id}")), fit_id
    )
    path = store.text_fit_path(fitted.profile_version)
    if path.is_file():
        logger.info("text fit %s found in %s", fitted.profile_version, path)
    else:
        t0 = time.perf_counter()
        model = fit_ngram_text(list(texts), profile.ngram)
        model.save(path)
        logger.info(
            "text fit %s on %d texts in %.1f s",
            fitted.profile_version,
            len(texts),
            time.perf_counter() - t0,
        )
    if make_current:
        store.set_current_version(profile.base_version, fitted.profile_version)
    return fitted


def resolve_profile(profile: EncoderProfile, store: FeatureStore) -> EncoderProfile:
    """The fitted version of ``profile`` in use in ``store``; ``profile`` itself when it needs no
    fit or none has been made yet (loading it then fails with a clear error)."""
    if not profile.needs_text_fit:
        return profile
    version = store.current_version(profile.base_version)
    if version is None:
        return profile
    fit_id = version[len(profile.base_version) + 1 :]
    return profile.with_text_fit(str(store.text_fit_path(version)), fit_id)
