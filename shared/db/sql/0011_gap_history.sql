-- Collector gaps become a history: one row per occurrence, never overwritten once healed.
-- Keyed by (cluster, window start), a window that failed, healed and failed again overwrote its
-- healed row, so data-health could not say how often a source failed or how long it took to heal.
-- Now each occurrence has its own id; at most one row per window is open (the partial unique index
-- the collector's upsert targets), and a new failure of a healed window opens a new row.
-- The heal records the fetch that healed it: its window [healed_by_start, healed_by_end) and the
-- fetch id the collector also logs (field `fetch`), so a heal can be found in the logs.
-- Existing rows are kept: their first failure time is unknown and taken as their last
-- (`recorded_at`); rows healed before this migration have no healing fetch (NULLs).

ALTER TABLE collector_gap ADD COLUMN opened_at timestamptz;
UPDATE collector_gap SET opened_at = recorded_at;
ALTER TABLE collector_gap ALTER COLUMN opened_at SET NOT NULL;
ALTER TABLE collector_gap ALTER COLUMN opened_at SET DEFAULT now();

ALTER TABLE collector_gap ADD COLUMN healed_by_start timestamptz;
ALTER TABLE collector_gap ADD COLUMN healed_by_end timestamptz;
ALTER TABLE collector_gap ADD COLUMN healed_by_fetch text;

ALTER TABLE collector_gap DROP CONSTRAINT collector_gap_pkey;
ALTER TABLE collector_gap ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE collector_gap ADD PRIMARY KEY (id);

CREATE UNIQUE INDEX collector_gap_open ON collector_gap (cluster_id, window_start)
    WHERE resolved_at IS NULL;
CREATE INDEX collector_gap_healed ON collector_gap (cluster_id, resolved_at)
    WHERE resolved_at IS NOT NULL;
