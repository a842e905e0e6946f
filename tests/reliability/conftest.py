"""The reliability suite (floods, kills, slow clients, limits) runs on every backend (the
`backend` fixture of tests/conftest.py). On ClickHouse the engine is the test front's process
(tests/chdb_front.py), so a SIGKILLed server loses nothing the engine acknowledged, and the
server's memory bound is its own."""
