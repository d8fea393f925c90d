"""The client: one API to the server, over an embedded or an HTTP transport."""
