"""Every SQL statement of aiki, one module per table or aggregate, as methods of the store's connection."""
