"""What the functions do, free of event shapes: minting tokens and rotating the signing key. They
reach the outside world only through the ports in `services.ports`."""
