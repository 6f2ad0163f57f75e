-- Velocity counts are kept in each process's memory (src/risk/counters.ts); the table is read only
-- by a process that starts, per merchant and by time (the last day). The old index ordered every
-- row by its subject (an address, a number), so each observation written touched a random page of
-- a large index; this one is in time order within a merchant, so writes append at its right edge.
-- Measured with bench/risk.ts (docs/risk.md, "Figures").
drop index if exists risk_observations_window;
create index risk_observations_recent on risk_observations (merchant_id, mode, created);
