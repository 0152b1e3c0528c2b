"""Simulated STMicroelectronics X-NUCLEO-LPM01A (PowerShield) on a pseudo-terminal."""
