"""Personalized glucose forecasting and vitals baselines, trained offline and versioned."""
