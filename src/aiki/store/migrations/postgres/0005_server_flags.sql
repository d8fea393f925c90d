-- Facts about the deployment that, once true, stay true. 'keys_required': an API key was created once, so the
-- HTTP API requires keys from then on, even when every key is revoked (it never opens again by itself).
CREATE TABLE server_flags (
    name TEXT PRIMARY KEY,
    set_at_ms BIGINT NOT NULL
);
INSERT INTO server_flags (name, set_at_ms)
    SELECT 'keys_required', MIN(created_at_ms) FROM api_keys HAVING COUNT(*) > 0;
