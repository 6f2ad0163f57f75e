-- TOTP codes are good once: the last time step a staff member signed in with is kept, and a code
-- of that step or an earlier one is refused (RFC 6238 §5.2). Secrets are stored encrypted
-- (AES-256-GCM, `enc1:` prefix; see src/staff/totp-vault.ts).
alter table staff add column totp_last_step bigint;
