"""The guess for a metric nobody has described: kind, which way is better and unit from the name's
words (English, German, French, Spanish; accents and case do not matter; whole words only), the
unit it writes, and its values — and the reason, in words, that the upload page shows.

Every expectation is written by hand from what the name means.
"""

from __future__ import annotations

import pytest

from pilot_health.rules.metric_dictionary import ValueSummary, guess, load_metric_dictionary


@pytest.mark.parametrize(
    "name, kind, direction",
    [
        # English
        ("revenue_usd", "business", "up"),
        ("Net sales", "business", "up"),
        ("operating_costs", "business", "down"),
        ("monthly churn", "business", "down"),
        ("accuracy_holdout", "technical", "up"),
        ("val auc", "technical", "up"),
        ("macro f1 score", "technical", "up"),
        ("precision_at_k", "technical", "up"),
        ("recall_fraud", "technical", "up"),
        ("reconstruction_error", "technical", "down"),
        ("train/loss", "technical", "down"),
        ("rmse_weekly", "technical", "down"),
        ("p99 latency", "technical", "down"),
        # German
        ("Umsatz", "business", "up"),
        ("UMSATZ", "business", "up"),
        ("Kosten", "business", "down"),
        ("Personalkosten", "business", "down"),
        ("Erlös", "business", "up"),
        ("Erloes", "business", "up"),
        ("Gewinn", "business", "up"),
        ("Kundenzufriedenheit", "business", "up"),
        ("Fehlerquote", "technical", "down"),
        ("Genauigkeit", "technical", "up"),
        # French
        ("chiffre d'affaires", "business", "up"),
        ("Chiffre d’affaires", "business", "up"),
        ("coûts", "business", "down"),
        ("Couts", "business", "down"),
        ("ventes", "business", "up"),
        ("marge brute", "business", "up"),
        ("taux de conversion", "business", "up"),
        ("erreur", "technical", "down"),
        ("exactitude", "technical", "up"),
        # Spanish
        ("ingresos", "business", "up"),
        ("costes", "business", "down"),
        ("costos", "business", "down"),
        ("ventas", "business", "up"),
        ("satisfacción", "business", "up"),
        ("SATISFACCION", "business", "up"),
        ("precisión", "technical", "up"),
        ("exactitud", "technical", "up"),
        ("tasa de error", "technical", "down"),
    ],
)
def test_common_words_of_four_languages_give_kind_and_direction(name, kind, direction):
    guessed = guess(name)
    assert (guessed.kind, guessed.direction, guessed.source) == (kind, direction, "guessed"), guessed


def test_the_reason_names_the_word_and_its_language():
    assert guess("Umsatz").why == "From the word ‘Umsatz’ (German for revenue)"
    assert guess("ingresos").why == "From the word ‘ingresos’ (Spanish for revenue)"
    assert guess("chiffre d'affaires").why == "From the words ‘chiffre d'affaires’ (French for revenue)"
    assert guess("reconstruction_error").why == "From the word ‘error’"
    assert guess("marge").why == "From the word ‘marge’ (French and German for margin)"


def test_a_currency_in_the_name_unit_or_cells_makes_a_business_kpi():
    umsatz = guess("Umsatz (€)", ValueSummary(1234.5, 1402.75))
    assert (umsatz.kind, umsatz.direction, umsatz.unit) == ("business", "up", "€")
    assert umsatz.why == "From the word ‘Umsatz’ (German for revenue) and the € in the name"
    amount = guess("Betrag", ValueSummary(10.0, 20.5, currency="€"))
    assert (amount.kind, amount.direction, amount.unit) == ("business", None, "€")
    assert amount.why == "From the € values"
    dollars = guess("weekly_total_usd")
    assert (dollars.kind, dollars.unit) == ("business", "USD")
    assert guess("revenue_usd").unit == "USD"
    assert guess("Wert [EUR]").kind == "business"


def test_a_share_named_like_accuracy_is_technical_higher_is_better():
    share = guess("holdout accuracy", ValueSummary(0.81, 0.93))
    assert (share.kind, share.direction, share.unit) == ("technical", "up", "share")
    assert share.why == "From the word ‘accuracy’ and values between 0 and 1 (a share)"
    assert guess("auc_val", ValueSummary(0.7, 0.75)).unit == "share"
    assert guess("auc_val", ValueSummary(70.0, 75.0)).unit is None, "not a share: 70 to 75"


def test_counts_of_users_and_sessions_are_usage():
    users = guess("weekly users", ValueSummary(120.0, 340.0, whole=True))
    assert (users.kind, users.direction) == ("adoption", "up")
    assert guess("Nutzer", ValueSummary(3.0, 9.0, whole=True)).kind == "adoption"
    assert guess("sesiones", ValueSummary(3.0, 9.0, whole=True)).kind == "adoption"
    assert guess("revenue per user").kind == "business", "revenue per user is money, not a count of users"
    assert guess("users", ValueSummary(0.2, 0.4)).kind != "adoption", "a share is not a count of users"


@pytest.mark.parametrize(
    "name, kind, direction",
    [
        ("cost_function_loss", "technical", "down"),  # a training loss, not money
        ("rmse_eur", "technical", "down"),  # a model's error measured in euros
        ("MAE (€)", "technical", "down"),
        ("sales_forecast_mape", "technical", "down"),  # how wrong the sales forecast is
        ("fehlerlos", "technical", None),  # 'Erlös' inside another word is not revenue
        ("costume_rating", "technical", None),  # "cost" inside a word is not cost (the old guess said business)
        ("salesforce_sync_latency", "technical", "down"),
    ],
)
def test_names_that_are_not_business(name, kind, direction):
    guessed = guess(name)
    assert guessed.kind != "business", guessed
    assert (guessed.kind, guessed.direction) == (kind, direction), guessed


def test_nothing_to_go_on_says_so():
    assert guess("widget index").why == "Nothing in the name or values says; technical by default"
    assert (guess("widget index").kind, guess("widget index").direction) == ("technical", None)


def test_the_built_in_dictionary_still_wins_over_the_guess():
    dictionary = load_metric_dictionary()
    assert dictionary.describe("forecast_accuracy").kind == "business"
    assert dictionary.describe("sales").source == "built-in"
