"""The wires simulated devices serve on: pseudo-terminals, TCP sockets, SCPI over TCP."""
