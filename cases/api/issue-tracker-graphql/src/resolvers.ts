import type { Issue, IssueStatus, Priority, Project } from '@prisma/client';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { membershipKey } from './loaders';
import type { Context, Viewer } from './server';

const MAX_PAGE_SIZE = 100;

interface CreateIssueInput {
  projectKey: string;
  title: string;
  body?: string | null;
  priority?: Priority | null;
  assigneeId?: string | null;
}

type UpdateIssueInput = Partial<Record<'title' | 'body' | 'status' | 'priority' | 'assigneeId', string | null>>;

const DateTime = new GraphQLScalarType<Date | null, string>({
  name: 'DateTime',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => new Date(String(value)),
  parseLiteral: (ast) => (ast.kind === Kind.STRING ? new Date(ast.value) : null),
});

function notFound(what: string): GraphQLError {
  return new GraphQLError(`${what} not found`, { extensions: { code: 'NOT_FOUND' } });
}

function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw new GraphQLError('authentication required', { extensions: { code: 'UNAUTHENTICATED' } });
  return ctx.viewer;
}

async function visibleProject(ctx: Context, projectId: string): Promise<Project> {
  const viewer = requireViewer(ctx);
  const project = await ctx.loaders.project.load(projectId);
  if (!project) throw notFound('project');
  if (project.isPrivate && !(await ctx.loaders.membership.load(membershipKey(project.id, viewer.id)))) {
    throw notFound('project');
  }
  return project;
}

async function memberProject(ctx: Context, projectId: string, userId = requireViewer(ctx).id): Promise<Project> {
  const project = await visibleProject(ctx, projectId);
  if (!(await ctx.loaders.membership.load(membershipKey(project.id, userId)))) {
    throw new GraphQLError('project membership required', { extensions: { code: 'FORBIDDEN' } });
  }
  return project;
}

function pageSize(first: number | null | undefined, fallback: number): number {
  return Math.min(Math.max(first ?? fallback, 1), MAX_PAGE_SIZE);
}

async function projectByKey(ctx: Context, key: string): Promise<Project> {
  const project = await ctx.prisma.project.findUnique({ where: { key } });
  if (!project) throw notFound('project');
  return project;
}

export const resolvers = {
  DateTime,

  Query: {
    viewer: (_: unknown, __: unknown, ctx: Context) => ctx.loaders.user.load(requireViewer(ctx).id),

    user: (_: unknown, args: { id: string }, ctx: Context) => {
      requireViewer(ctx);
      return ctx.loaders.user.load(args.id);
    },

    project: async (_: unknown, args: { key: string }, ctx: Context) =>
      visibleProject(ctx, (await projectByKey(ctx, args.key)).id),

    issue: async (_: unknown, args: { id: string }, ctx: Context) => {
      const issue = await ctx.prisma.issue.findUnique({ where: { id: args.id } });
      if (!issue) return null;
      await visibleProject(ctx, issue.projectId);
      return issue;
    },

    searchIssues: async (_: unknown, args: { projectKey: string; text: string; first?: number }, ctx: Context) => {
      const project = await visibleProject(ctx, (await projectByKey(ctx, args.projectKey)).id);
      const hits = await ctx.prisma.$queryRawUnsafe<{ id: string }[]>(
        `SELECT id FROM issues
          WHERE project_id = $1 AND search_vector @@ websearch_to_tsquery('english', '${args.text}')
          ORDER BY ts_rank(search_vector, websearch_to_tsquery('english', '${args.text}')) DESC
          LIMIT $2`,
        project.id,
        pageSize(args.first, 20),
      );
      const rank = new Map(hits.map((hit, i) => [hit.id, i]));
      const issues = await ctx.prisma.issue.findMany({ where: { id: { in: [...rank.keys()] } } });
      return issues.sort((a, b) => (rank.get(a.id) ?? 0) - (rank.get(b.id) ?? 0));
    },
  },

  User: {
    projects: (parent: { id: string }, _: unknown, ctx: Context) =>
      ctx.prisma.project.findMany({
        where: { members: { some: { userId: parent.id } } },
        orderBy: { name: 'asc' },
      }),

    assignedIssues: (parent: { id: string }, args: { status?: IssueStatus }, ctx: Context) =>
      ctx.prisma.issue.findMany({
        where: { assigneeId: parent.id, ...(args.status ? { status: args.status } : {}) },
        orderBy: { updatedAt: 'desc' },
        take: MAX_PAGE_SIZE,
      }),
  },

  Project: {
    members: (parent: Project, _: unknown, ctx: Context) => ctx.loaders.membersByProject.load(parent.id),

    issues: async (parent: Project, args: { status?: IssueStatus; first?: number; after?: string }, ctx: Context) => {
      const take = pageSize(args.first, 50);
      const rows = await ctx.prisma.issue.findMany({
        where: { projectId: parent.id, ...(args.status ? { status: args.status } : {}) },
        orderBy: { number: 'desc' },
        take: take + 1,
        ...(args.after ? { cursor: { id: args.after }, skip: 1 } : {}),
      });
      const nodes = rows.slice(0, take);
      return { nodes, endCursor: nodes.at(-1)?.id ?? null, hasNextPage: rows.length > take };
    },

    stats: async (parent: Project, _: unknown, ctx: Context) => {
      const rows = await ctx.prisma.$queryRaw<{ status: IssueStatus; count: bigint }[]>`
        SELECT status, count(*) AS count FROM issues WHERE project_id = ${parent.id} GROUP BY status ORDER BY status`;
      return rows.map((row) => ({ status: row.status, count: Number(row.count) }));
    },
  },

  Issue: {
    project: (parent: Issue, _: unknown, ctx: Context) => ctx.loaders.project.load(parent.projectId),
    reporter: (parent: Issue, _: unknown, ctx: Context) => ctx.loaders.user.load(parent.reporterId),
    assignee: (parent: Issue, _: unknown, ctx: Context) =>
      parent.assigneeId ? ctx.loaders.user.load(parent.assigneeId) : null,
    comments: (parent: Issue, _: unknown, ctx: Context) => ctx.loaders.commentsByIssue.load(parent.id),
    commentCount: (parent: Issue, _: unknown, ctx: Context) =>
      ctx.prisma.comment.count({ where: { issueId: parent.id } }),
  },

  Comment: {
    author: (parent: { authorId: string }, _: unknown, ctx: Context) => ctx.loaders.user.load(parent.authorId),
  },

  Mutation: {
    createIssue: async (_: unknown, { input }: { input: CreateIssueInput }, ctx: Context) => {
      const viewer = requireViewer(ctx);
      const project = await projectByKey(ctx, input.projectKey);
      await memberProject(ctx, project.id);
      if (input.assigneeId) await memberProject(ctx, project.id, input.assigneeId);

      const number = project.issueCounter + 1;
      const issue = await ctx.prisma.issue.create({
        data: {
          projectId: project.id,
          number,
          title: input.title,
          body: input.body ?? null,
          priority: input.priority ?? 'MEDIUM',
          status: 'BACKLOG',
          reporterId: viewer.id,
          assigneeId: input.assigneeId ?? null,
        },
      });
      await ctx.prisma.project.update({ where: { id: project.id }, data: { issueCounter: number } });
      return issue;
    },

    updateIssue: async (_: unknown, { id, input }: { id: string; input: UpdateIssueInput }, ctx: Context) => {
      const existing = await ctx.prisma.issue.findUnique({ where: { id } });
      if (!existing) throw notFound('issue');
      await memberProject(ctx, existing.projectId);
      if (input.assigneeId) await memberProject(ctx, existing.projectId, input.assigneeId);
      const data = Object.fromEntries(Object.entries(input).filter(([, value]) => value != null));
      return ctx.prisma.issue.update({ where: { id }, data });
    },

    addComment: async (_: unknown, args: { issueId: string; body: string }, ctx: Context) => {
      const viewer = requireViewer(ctx);
      const issue = await ctx.prisma.issue.findUnique({ where: { id: args.issueId } });
      if (!issue) throw notFound('issue');
      await memberProject(ctx, issue.projectId);
      return ctx.prisma.comment.create({ data: { issueId: issue.id, authorId: viewer.id, body: args.body } });
    },

    removeProjectMember: async (_: unknown, args: { projectKey: string; userId: string }, ctx: Context) => {
      const viewer = requireViewer(ctx);
      const project = await projectByKey(ctx, args.projectKey);
      const own = await ctx.loaders.membership.load(membershipKey(project.id, viewer.id));
      if (own?.role !== 'ADMIN') {
        throw new GraphQLError('only project admins can remove members', { extensions: { code: 'FORBIDDEN' } });
      }
      await ctx.prisma.membership.delete({ where: { projectId_userId: { projectId: project.id, userId: args.userId } } });
      return project;
    },
  },
};
