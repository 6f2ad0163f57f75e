-- The back office finds customers by the start of their name (metadata.name), case-insensitively,
-- per merchant and mode. text_pattern_ops lets `like 'abc%'` use the index whatever the collation.
create index customers_name_prefix on customers (merchant_id, mode, (lower(metadata ->> 'name')) text_pattern_ops);
