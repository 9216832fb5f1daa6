"""The lite profile's fitted character n-gram text encoder: fitting, reading Chinese and
English, the stored state, profile versions per fit, and loading through the content pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from m3tr.core.content.config import LITE_PROFILE, NgramConfig
from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.features import VideoInput
from m3tr.core.content.fitting import fit_text_profile, resolve_profile
from m3tr.core.content.ngram import NgramTextModel, corpus_id, fit_ngram_text
from m3tr.core.content.pipeline import embed_videos, load_profile
from m3tr.core.content.store import FeatureStore

BANK = [
    "临沂市委书记被查，燕赵都市网报道",
    "今天北京的天气很好，适合出去玩",
    "北京今天下雨了，天气很冷",
    "公开招募有志于社交媒体营销的年轻人",
    "招募年轻人加入创业公司，待遇从优",
    "A cat playing the piano at home # funny # cat",
    "My cat plays piano again # cat",
    "Stock markets fell sharply on Monday",
    "Spicy fried duck intestines, homemade summer food",
    "Homemade spicy duck, summer food at home",
]
SMALL = NgramConfig(dim=8, segments=4, min_df=1)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_chinese_and_english_neighbours_share_words() -> None:
    model = fit_ngram_text(BANK, SMALL)
    _, r = model.encode(
        ["北京天气很好", "北京的天气", "招募年轻人", "A cat plays the piano", "duck summer food"]
    )
    assert r.shape == (5, 8) and r.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), 1.0, atol=1e-5)
    assert _cos(r[0], r[1]) > _cos(r[0], r[2]) + 0.3  # weather vs. weather, not recruiting
    assert _cos(r[3], r[4]) < _cos(r[3], model.encode(["cat piano"])[1][0])
    # nearest bank text of a Chinese query shares its characters
    _, bank = model.encode(BANK)
    assert int(np.argmax(bank @ r[2])) in (3, 4)
    assert int(np.argmax(bank @ r[0])) in (1, 2)


def test_tokens_are_ordered_pieces_of_the_text() -> None:
    model = fit_ngram_text(BANK, SMALL)
    text = "今天北京的天气很好，适合出去玩。北京今天下雨了，天气很冷"
    tokens, pooled = model.encode([text, "cat", ""])
    assert tokens[0].shape == (4, 8) and tokens[0].dtype == np.float32
    assert tokens[1].shape == (1, 8) and tokens[2].shape == (1, 8)
    pieces = model.segments(text)
    assert "".join(pieces) == text and len(pieces) == 4
    np.testing.assert_allclose(tokens[0], model.project(pieces), atol=1e-6)
    sentence = "one two three four five six seven eight nine ten eleven twelve"
    words = model.segments(sentence)
    assert len(words) == 4 and " ".join(words) == sentence and words[0] == "one two three"
    # an empty text or unseen characters: the fixed fallback vector, still unit length
    _, odd = model.encode(["", "ǂǂǂ"])
    np.testing.assert_allclose(odd[0], odd[1], atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(odd, axis=1), 1.0, atol=1e-5)
    assert pooled.shape == (3, 8)


def test_fit_is_deterministic_and_id_follows_texts_and_settings() -> None:
    a, b = fit_ngram_text(BANK, SMALL), fit_ngram_text(BANK, SMALL)
    assert a.fit_id == b.fit_id == corpus_id(BANK, SMALL)
    np.testing.assert_array_equal(a.components, b.components)
    assert fit_ngram_text(BANK[:-1], SMALL).fit_id != a.fit_id
    assert fit_ngram_text(BANK, NgramConfig(dim=6, segments=4, min_df=1)).fit_id != a.fit_id


def test_tiny_and_degenerate_banks() -> None:
    one = fit_ngram_text(["只有一条"], NgramConfig(dim=4))
    _, r = one.encode(["只有一条", "别的"])
    assert r.shape == (2, 4) and abs(float(np.linalg.norm(r[0])) - 1) < 1e-5
    with pytest.raises(ValueError, match="none of the 2 texts"):
        fit_ngram_text(["", "   "])
    with pytest.raises(ValueError, match="ngram_min"):
        NgramConfig(ngram_min=3, ngram_max=2)


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    model = fit_ngram_text(BANK, SMALL)
    path = model.save(tmp_path / "fit" / "text.safetensors")
    back = NgramTextModel.load(path)
    assert back.fit_id == model.fit_id and back.vocabulary == model.vocabulary
    assert back.config == SMALL and back.n_fit_texts == len(BANK)
    t1, r1 = model.encode(BANK[:3])
    t2, r2 = back.encode(BANK[:3])
    np.testing.assert_array_equal(r1, r2)
    for x, y in zip(t1, t2, strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(EncoderLoadError, match="no fitted n-gram text state"):
        NgramTextModel.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(EncoderLoadError, match="not a valid n-gram text fit"):
        NgramTextModel.load(tmp_path / "junk.safetensors")


def test_profile_version_per_fit_and_current_fit(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    base = LITE_PROFILE.with_overrides(ngram=SMALL)
    assert base.needs_text_fit and resolve_profile(base, store) is base
    with pytest.raises(EncoderLoadError, match="has no fit yet"):
        load_profile(base)
    fitted = fit_text_profile(base, BANK, store, make_current=True)
    assert fitted.profile_version == f"lite-v2.{corpus_id(BANK, SMALL)}"
    assert not fitted.needs_text_fit and fitted.base_version == "lite-v2"
    assert Path(fitted.text_fit or "") == store.text_fit_path(fitted.profile_version)
    assert resolve_profile(base, store) == fitted
    refit = fit_text_profile(base, BANK[:6], store)
    assert refit.profile_version != fitted.profile_version
    assert resolve_profile(base, store) == fitted  # not made current
    # vectors of different fits are stored apart and never mix
    pipe_a, pipe_b = load_profile(fitted), load_profile(refit)
    item = [VideoInput("1", None, "北京天气", "")]
    fa, fb = embed_videos(item, pipe_a)[0], embed_videos(item, pipe_b)[0]
    store.put("1", fitted.profile_version, fa)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="never mix"):
        store.put("1", fitted.profile_version, fb)  # type: ignore[arg-type]
    assert store.keys(fitted.profile_version) == ["1"] and store.keys(refit.profile_version) == []
    assert fa.R.shape == (8,) and fa.E_t.shape[1] == 8 and fa.profile == "lite"


def test_a_fit_that_is_not_the_profiles_is_refused(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    base = LITE_PROFILE.with_overrides(ngram=SMALL)
    fitted = fit_text_profile(base, BANK, store)
    other = fit_text_profile(base, BANK[:5], store)
    swapped = fitted.with_overrides(text_fit=other.text_fit)
    with pytest.raises(EncoderLoadError, match="holds fit"):
        load_profile(swapped)


def test_tfidf_matches_scikit_learn() -> None:
    """The stored state reproduces sklearn's TfidfVectorizer (char 1-3, sublinear tf, smooth idf,
    l2) exactly, without pickling the vectorizer."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    model = fit_ngram_text(BANK, SMALL)
    ref = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    ref.fit(BANK)
    assert sorted(ref.vocabulary_) == sorted(model.vocabulary)
    order = [ref.vocabulary_[g] for g in model.vocabulary]
    texts = [*BANK[:4], "", "北京 cat"]
    np.testing.assert_allclose(
        model.tfidf(texts).toarray(), ref.transform(texts).toarray()[:, order], atol=1e-6
    )


def test_embed_texts_fits_on_the_bank_and_reuses_the_fit_in_use(tmp_path: Path) -> None:
    from m3tr.core.training.content import embed_texts

    keys = [f"k{i}" for i in range(len(BANK))]
    bank = BANK[:6]  # what the evaluation's training bank holds
    a = embed_texts(keys, BANK, tmp_path / "eval", fit_texts=bank)
    assert a.profile_version == f"lite-v2.{corpus_id(bank, LITE_PROFILE.ngram)}"
    assert a.R.shape == (len(BANK), LITE_PROFILE.ngram.dim) and a.text.shape[2] == a.R.shape[1]
    assert FeatureStore(tmp_path / "eval").current_version("lite-v2") is None  # not the service's
    again = embed_texts(keys[:2], BANK[:2], tmp_path / "eval", fit_texts=bank)  # same fit, cached
    np.testing.assert_array_equal(again.R, a.R[:2])
    # service-style calls: the first fits on its texts and makes that fit current; later calls
    # with other texts embed with it instead of fitting again
    first = embed_texts(keys[:5], BANK[:5], tmp_path / "svc")
    later = embed_texts(keys[5:], BANK[5:], tmp_path / "svc")
    assert first.profile_version == later.profile_version
    assert FeatureStore(tmp_path / "svc").current_version("lite-v2") == first.profile_version


def test_current_version_pointer_is_checked(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    assert store.current_version("lite-v2") is None
    with pytest.raises(ValueError, match="has no stored text fit"):
        store.set_current_version("lite-v2", "lite-v2.0123456789")
    with pytest.raises(ValueError, match="profile version"):
        store.current_version("../lite")
    fitted = fit_text_profile(LITE_PROFILE.with_overrides(ngram=SMALL), BANK, store)
    store.set_current_version("lite-v2", fitted.profile_version)
    assert store.current_version("lite-v2") == fitted.profile_version
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temporary left
    assert store.keys(fitted.profile_version) == []  # the fit is not a video's features
