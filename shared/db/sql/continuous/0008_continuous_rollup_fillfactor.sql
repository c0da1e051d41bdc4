-- Rollup fillfactor (replaces 0008 in `continuous` mode): nothing to do. The rollups here are
-- continuous aggregates that TimescaleDB materializes by refresh, not rows the aggregator updates.
SELECT 1;
