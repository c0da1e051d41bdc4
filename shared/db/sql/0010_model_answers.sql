-- Answers of the model-based endpoints (costs/forecast), stored once per version of their input.
-- A forecast fits four statsmodels models with 1,000 simulated paths each: seconds of CPU for
-- an answer that only changes when its input does (a new complete day, a restated one). The key
-- is the digest of everything the answer is a function of (the daily history of the scope, the
-- day, the parameters, the model code's version), so a stored answer is never stale: new data
-- makes a new digest. The answer is kept as the API encodes it (exact decimals).
CREATE TABLE IF NOT EXISTS model_answer (
    kind text NOT NULL,
    scope_key text NOT NULL,
    input_digest bytea NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    data_through timestamptz,
    answer bytea NOT NULL,
    PRIMARY KEY (kind, scope_key, input_digest)
);
CREATE INDEX IF NOT EXISTS model_answer_by_age ON model_answer (kind, scope_key, computed_at);
