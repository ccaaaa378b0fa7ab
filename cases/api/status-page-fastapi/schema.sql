-- Status page database (PostgreSQL 15).
-- Components and incidents are written by the internal status console; this service only reads
-- visible components and published incidents, and writes component status from monitor events.

CREATE TABLE components (
    id          serial PRIMARY KEY,
    name        text        NOT NULL,
    check_id    text        NOT NULL UNIQUE,
    status      text        NOT NULL DEFAULT 'up' CHECK (status IN ('up', 'degraded', 'down')),
    position    int         NOT NULL,
    visible     boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX components_visible_position_idx ON components (position) WHERE visible;

CREATE TABLE incidents (
    id           serial PRIMARY KEY,
    title        text        NOT NULL,
    impact       text        NOT NULL CHECK (impact IN ('minor', 'major', 'critical')),
    impact_rank  smallint    NOT NULL GENERATED ALWAYS AS (
                     CASE impact WHEN 'critical' THEN 3 WHEN 'major' THEN 2 ELSE 1 END) STORED,
    status       text        NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    summary      text        NOT NULL DEFAULT '',
    published    boolean     NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    created_by   text        NOT NULL,
    CHECK (resolved_at IS NULL OR resolved_at >= started_at)
);
CREATE INDEX incidents_published_started_idx ON incidents (started_at DESC, id DESC) WHERE published;
CREATE INDEX incidents_published_impact_idx ON incidents (impact_rank DESC, started_at DESC, id DESC)
    WHERE published;

CREATE TABLE incident_components (
    incident_id   int NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component_id  int NOT NULL REFERENCES components (id),
    PRIMARY KEY (incident_id, component_id)
);

CREATE TABLE incident_updates (
    id           serial PRIMARY KEY,
    incident_id  int         NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status       text        NOT NULL,
    body         text        NOT NULL,
    posted_at    timestamptz NOT NULL DEFAULT now(),
    posted_by    text        NOT NULL
);
CREATE INDEX incident_updates_incident_idx ON incident_updates (incident_id, posted_at);

-- One row per Pingwatch event; the primary key makes webhook redeliveries no-ops.
-- Rows older than 30 days are deleted by the nightly maintenance job.
CREATE TABLE monitor_events (
    event_id     text        PRIMARY KEY,
    check_id     text        NOT NULL,
    status       text        NOT NULL,
    observed_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitor_events_received_idx ON monitor_events (received_at);
CREATE INDEX monitor_events_check_idx ON monitor_events (check_id, observed_at DESC);
