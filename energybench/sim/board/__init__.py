"""The simulated MLCommons interface board (IO manager), with its SD card and I2S playback."""
