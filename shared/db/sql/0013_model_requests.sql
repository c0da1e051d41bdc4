-- The forecast and anomaly questions API consumers ask, so that their answers can be fitted ahead
-- of the next request when the data they depend on changes (a day completes, a past day is
-- restated): the API's refresher (services/api/finops/model_refresh.py) re-reads each question's
-- input every few minutes and fits it when no answer is stored for that input yet. A question not
-- asked for 7 days is forgotten. `request` is the question as the API encodes it (scope and
-- parameters); `request_digest` its SHA-256.
CREATE TABLE model_request (
    kind text NOT NULL,
    request_digest bytea NOT NULL,
    scope_key text NOT NULL,
    request bytea NOT NULL,
    last_asked timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, request_digest)
);
