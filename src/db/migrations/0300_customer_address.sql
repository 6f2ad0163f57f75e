-- Customers may carry a postal address (issue 12): {line1, line2?, city, postal_code?, region?,
-- country}, validated by the API, formatted for people by the back office as its country writes it.
alter table customers add column address jsonb;
