"""Transports: VISA, serial, TCP socket and scripted (tests); bytes in, bytes out."""
