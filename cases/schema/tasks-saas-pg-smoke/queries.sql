-- name: ListMyOpenTasks :many
SELECT id, project_id, title, status, due_on FROM tasks
WHERE tenant_id = $1 AND assignee_id = $2 AND status <> 'done'
ORDER BY due_on LIMIT 50;

-- name: ListProjectTasks :many
-- Board view; large projects hold 40k+ tasks.
SELECT id, title, status, assignee_id, due_on FROM tasks
WHERE tenant_id = $1 AND project_id = $2
ORDER BY created_at DESC;

-- name: GetTask :one
-- GET /api/tasks/{id}
SELECT id, project_id, title, status, assignee_id, due_on
FROM tasks WHERE id = $1;

-- name: ListTaskComments :many
SELECT id, author_id, body, created_at FROM comments
WHERE tenant_id = $1 AND task_id = $2
ORDER BY created_at LIMIT 100;

-- name: CreateProject :one
INSERT INTO projects (tenant_id, name) VALUES ($1, $2) RETURNING id;
