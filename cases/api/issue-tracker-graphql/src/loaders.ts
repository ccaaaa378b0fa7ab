import DataLoader from 'dataloader';
import type { Comment, Membership, PrismaClient, Project, User } from '@prisma/client';

function alignToKeys<K, V>(keys: readonly K[], rows: V[], keyOf: (row: V) => K): (V | null)[] {
  const byKey = new Map<K, V>();
  for (const row of rows) byKey.set(keyOf(row), row);
  return keys.map((key) => byKey.get(key) ?? null);
}

export function membershipKey(projectId: string, userId: string): string {
  return `${projectId}:${userId}`;
}

export function createLoaders(prisma: PrismaClient) {
  return {
    user: new DataLoader<string, User | null>(async (ids) => {
      const rows = await prisma.user.findMany({ where: { id: { in: [...ids] } } });
      return alignToKeys(ids, rows, (row) => row.id);
    }),

    project: new DataLoader<string, Project | null>(async (ids) => {
      const rows = await prisma.project.findMany({ where: { id: { in: [...ids] } } });
      return alignToKeys(ids, rows, (row) => row.id);
    }),

    membership: new DataLoader<string, Membership | null>(async (keys) => {
      const pairs = keys.map((key) => {
        const [projectId, userId] = key.split(':');
        return { projectId, userId };
      });
      const rows = await prisma.membership.findMany({ where: { OR: pairs } });
      return alignToKeys(keys, rows, (row) => membershipKey(row.projectId, row.userId));
    }),

    membersByProject: new DataLoader<string, User[]>(async (projectIds) => {
      const rows = await prisma.membership.findMany({
        where: { projectId: { in: [...projectIds] } },
        include: { user: true },
        orderBy: { createdAt: 'asc' },
      });
      const grouped = new Map<string, User[]>();
      for (const row of rows) {
        const list = grouped.get(row.projectId) ?? [];
        list.push(row.user);
        grouped.set(row.projectId, list);
      }
      return projectIds.map((id) => grouped.get(id) ?? []);
    }),

    commentsByIssue: new DataLoader<string, Comment[]>(async (issueIds) => {
      const rows = await prisma.comment.findMany({
        where: { issueId: { in: [...issueIds] } },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      });
      const grouped = new Map<string, Comment[]>();
      for (const comment of rows) {
        const list = grouped.get(comment.issueId) ?? [];
        list.push(comment);
        grouped.set(comment.issueId, list);
      }
      return issueIds.map((id) => grouped.get(id) ?? []);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
