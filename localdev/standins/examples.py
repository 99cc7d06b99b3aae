"""The example ids of Cloudflare's documentation, which every stand-in, event and test uses."""

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
"""The account the events in events/ name (Cloudflare's documentation example)."""
VIDEO = "ea95132c15732412d22c1476fa83f27a"
"""A video id (Cloudflare's documentation example)."""
CUSTOMER_CODE = "f33zs165nr7gyfy4"
"""The CODE of customer-CODE.cloudflarestream.com in the tests and events."""
