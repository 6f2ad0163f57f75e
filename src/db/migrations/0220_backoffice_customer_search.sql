-- The back office's customer search, per merchant and mode (src/backoffice/customer-search.ts).
-- By the start of a name (metadata.name), case-insensitively: text_pattern_ops lets
-- `like 'abc%'` use the index whatever the database's collation.
create index customers_name_prefix on customers (merchant_id, mode, (lower(metadata ->> 'name')) text_pattern_ops);
-- By e-mail: the payers' index (0150) is on lower(email) alone and partial; with `order by id desc
-- limit 26` the planner preferred walking the primary key (about 1 s over a million customers).
create index customers_email_search on customers (merchant_id, mode, lower(email));
