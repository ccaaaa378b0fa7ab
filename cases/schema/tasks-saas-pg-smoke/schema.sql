-- Task tracker SaaS, PostgreSQL 16. tasks 80M rows, comments 310M.
CREATE TABLE tenants (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  bigint NOT NULL REFERENCES tenants (id),
  name       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   bigint NOT NULL REFERENCES tenants (id),
  project_id  bigint NOT NULL REFERENCES projects (id),
  title       text NOT NULL,
  status      text NOT NULL DEFAULT 'open',
  assignee_id bigint,
  due_on      date,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_project_idx ON tasks (tenant_id, project_id, created_at);
CREATE INDEX tasks_open_assignee_idx ON tasks (tenant_id, assignee_id, due_on)
  WHERE status <> 'done';

CREATE TABLE comments (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  bigint NOT NULL REFERENCES tenants (id),
  task_id    bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  author_id  bigint NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
