"""The simulated streaming-wakeword (sww01) DUT: audio, feature extraction, model, firmware."""
