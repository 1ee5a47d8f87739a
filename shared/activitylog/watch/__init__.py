"""Expected sources: rules, schedule windows, silence, rate drops and suggested rules (pure)."""
