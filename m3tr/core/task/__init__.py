"""The prediction task, shared by training, evaluation, fusion and serving, owned by none of them:
what is observed and predicted (``spec``), how data is split (``splits``), how forecasts are
scored (``metrics``), how their 80% intervals are calibrated (``intervals``) and which space
trajectory vectors live in (``trajectory_space``)."""
