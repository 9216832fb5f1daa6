"""``m3tr evaluate`` with the fusion variants NOT stacked with the early-event strong features
(``evaluate_dataset(..., stack=False)``): what ``no_temporal`` means in issue 18 (content and
content retrieval only, no events). Optionally with other settings of the lite text encoder.

    .venv/bin/python m3tr/bench/eval_unstacked.py ced-weibo ../shared/data/ced-weibo OUT CACHE \
        no_temporal,mean ['{"segments": 1}']
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


def main() -> None:
    from m3tr.core.content import config
    from m3tr.core.content.config import NgramConfig
    from m3tr.core.evaluation.run import evaluate_dataset

    logging.basicConfig(level=logging.INFO)
    dataset, train, out, cache = (
        sys.argv[1],
        Path(sys.argv[2]),
        Path(sys.argv[3]),
        Path(sys.argv[4]),
    )
    methods = sys.argv[5].split(",")
    if len(sys.argv) > 6:  # a variant of the lite text encoder (a new fit id, its own cache folder)
        ngram = NgramConfig(**json.loads(sys.argv[6]))
        config.PROFILES["lite"] = config.LITE_PROFILE.with_overrides(ngram=ngram)
    evaluate_dataset(
        dataset,
        train,
        None,
        out,
        obs_window_s=3600.0,
        horizon_s=604800.0,
        methods=methods,
        cache_dir=cache,
        stack=False,
        spread_splits=False,
        progress=print,
    )


if __name__ == "__main__":
    main()
