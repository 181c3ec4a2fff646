"""Baseline model plugins beside the CABM-FMER ConvMixer reference."""
