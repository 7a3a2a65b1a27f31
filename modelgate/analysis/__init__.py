"""Statistics that separate poisoning from the natural churn of a clean retrain."""
