-- Authentication: server-side sessions (the JWT in the cookie is only a
-- short-lived pointer to one of these), password-reset tokens (stored as
-- SHA-256 only), and the state MFA needs.

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    csrf_token    text NOT NULL,
    -- 'full': signed in; 'mfa_pending': password accepted, second factor still due.
    stage         text NOT NULL DEFAULT 'full' CHECK (stage IN ('full', 'mfa_pending')),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    -- When the user last proved a second factor in this session (step-up).
    mfa_at        timestamptz,
    revoked_at    timestamptz,
    revoke_reason text,
    ip_hash       text,
    user_agent    text
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE password_resets (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    token_hash    bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    -- Set when a newer token or a password change makes this one void.
    voided_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);

-- Previous-system bcrypt hashes are upgraded to Argon2id at the next login;
-- this records when a user's hash last changed scheme (for reporting).
ALTER TABLE users ADD COLUMN password_scheme text NOT NULL DEFAULT 'argon2id'
    CHECK (password_scheme IN ('argon2id', 'bcrypt'));
