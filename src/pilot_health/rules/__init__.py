"""The rules the numbers are judged by: the catalogue of signals, the thresholds, the metric dictionary."""
