"""What the tests share: the function as a test invokes it, `make run` as a subprocess, keys and
the log scan for secrets, and the check of every answer against openapi.yaml."""
