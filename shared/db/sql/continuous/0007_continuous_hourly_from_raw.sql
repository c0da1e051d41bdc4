-- `cost_hourly` from the raw rows (replaces 0007 in `continuous` mode): nothing to do. Here
-- `cost_hourly` is already a continuous aggregate over `allocation`, which TimescaleDB keeps
-- when raw chunks are dropped.
SELECT 1;
