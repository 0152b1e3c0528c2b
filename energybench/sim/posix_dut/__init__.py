"""The C harness's POSIX build (firmware/) run as the virtual lab's DUT."""
