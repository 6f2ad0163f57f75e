-- What a checkout page reports about itself, for the risk engine (docs/risk.md, `framed`,
-- `page_open_ms`): whether it was shown inside a frame (the embedded form's entry, or the
-- browser's Sec-Fetch-Dest: iframe) and when the payer first opened it. Reported, not proven.
alter table checkout_sessions add column framed boolean;
alter table checkout_sessions add column page_opened_at timestamptz;
