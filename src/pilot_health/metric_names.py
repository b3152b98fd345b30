"""Which way is better for a metric: accuracy, F1, AUC go up; RMSE, MAE, MAPE, cost go down.

A small built-in dictionary of the common names and spellings, plus word rules for the rest. The
direction of a pilot's business KPI comes from its record (`kpi_direction`), not from here.
"""
from __future__ import annotations

import re
from typing import Optional

KNOWN_DIRECTIONS: dict[str, str] = {
    "accuracy": "up", "acc": "up", "val_accuracy": "up", "val_acc": "up", "f1": "up", "f1_score": "up",
    "roc_auc": "up", "auc": "up", "precision": "up", "recall": "up", "r2": "up", "r_squared": "up",
    "ndcg": "up", "map": "up", "hit_rate": "up", "forecast_accuracy": "up",
    "rmse": "down", "mse": "down", "mae": "down", "mape": "down", "smape": "down", "wape": "down",
    "loss": "down", "val_loss": "down", "log_loss": "down", "logloss": "down", "error_rate": "down",
}
_UP_WORDS = re.compile(r"acc|f1|auc|precision|recall|r2|ndcg|hit|score|bleu|rouge|iou", re.IGNORECASE)
_DOWN_WORDS = re.compile(r"rmse|mse|mae|mape|loss|error|latency|cost|churn", re.IGNORECASE)


def metric_key(name: str) -> str:
    """Spellings that mean the same metric share a key: 'Val/Accuracy', 'val_accuracy' → 'val_accuracy'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def technical_direction(name: str) -> Optional[str]:
    """'up' when a higher value is better, 'down' when lower is, None when unknown."""
    key = metric_key(name)
    if key in KNOWN_DIRECTIONS:
        return KNOWN_DIRECTIONS[key]
    if _DOWN_WORDS.search(key):
        return "down"
    if _UP_WORDS.search(key):
        return "up"
    return None
