"""The server: commands, the run state machine, timers and the HTTP API. A library, embeddable anywhere."""
