-- Second factor: TOTP secrets (encrypted with AES-256-GCM; the database
-- never holds one in the clear), single-use recovery codes (SHA-256 only),
-- and the flag an ADMIN reset sets to force re-enrolment.

CREATE TABLE mfa_totp (
    user_id          uuid PRIMARY KEY REFERENCES users (id),
    key_id           text NOT NULL,
    nonce            bytea NOT NULL,
    secret_encrypted bytea NOT NULL,
    -- NULL while enrolling: the secret is only trusted once a code from it was entered.
    confirmed_at     timestamptz,
    -- The last TOTP step accepted: that step and every earlier one are refused (no replay).
    last_used_step   bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    code_hash  bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id) WHERE used_at IS NULL;

ALTER TABLE users ADD COLUMN mfa_enrolment_required boolean NOT NULL DEFAULT false;
