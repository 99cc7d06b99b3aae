"""Development only, never deployed: the commands `make run` (`run`), `make load` (`load`) and
`make events` (`make_events`), and in `standins/` the local stand-ins for API Gateway, AWS (moto)
and Cloudflare that these commands, the tests and the benchmarks share."""
