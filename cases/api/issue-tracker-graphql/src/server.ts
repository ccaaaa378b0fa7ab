import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@apollo/server/express4';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { unwrapResolverError } from '@apollo/server/errors';
import { PrismaClient } from '@prisma/client';
import cors from 'cors';
import express, { type Request } from 'express';
import { GraphQLError } from 'graphql';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import http from 'node:http';
import pino from 'pino';
import { createLoaders, type Loaders } from './loaders';
import { resolvers } from './resolvers';
import { typeDefs } from './schema';

export interface Viewer {
  id: string;
}

export interface Context {
  prisma: PrismaClient;
  loaders: Loaders;
  viewer: Viewer | null;
}

const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const prisma = new PrismaClient({ log: ['warn', 'error'] });
const loaders = createLoaders(prisma);

const jwks = createRemoteJWKSet(new URL(process.env.AUTH_JWKS_URL ?? 'https://auth.tracker.example/.well-known/jwks.json'));
const TOKEN_ISSUER = process.env.AUTH_ISSUER ?? 'https://auth.tracker.example/';
const TOKEN_AUDIENCE = 'tracker-graphql';

async function viewerFrom(req: Request): Promise<Viewer | null> {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) return null;
  try {
    const { payload } = await jwtVerify(header.slice('Bearer '.length), jwks, {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: ['RS256'],
    });
    return payload.sub ? { id: payload.sub } : null;
  } catch {
    throw new GraphQLError('invalid or expired token', {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
}

async function main(): Promise<void> {
  const app = express();
  const httpServer = http.createServer(app);

  const server = new ApolloServer<Context>({
    typeDefs,
    resolvers,
    introspection: true,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer })],
    formatError: (formatted, error) => {
      const code = formatted.extensions?.code;
      if (code === 'INTERNAL_SERVER_ERROR') {
        log.error({ err: unwrapResolverError(error), path: formatted.path }, 'resolver failed');
        return { message: 'Internal server error', path: formatted.path, extensions: { code } };
      }
      return formatted;
    },
  });
  await server.start();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use(
    '/graphql',
    // Public API used by customers' own integrations from their origins. Authentication is a bearer token
    // in the Authorization header only (no cookies), so allowing any origin does not expose ambient credentials.
    cors({ origin: '*', allowedHeaders: ['authorization', 'content-type'], maxAge: 600 }),
    express.json({ limit: '200kb' }),
    expressMiddleware(server, {
      context: async ({ req }) => ({ prisma, loaders, viewer: await viewerFrom(req) }),
    }),
  );

  const port = Number(process.env.PORT ?? 4000);
  await new Promise<void>((resolve) => httpServer.listen({ port }, resolve));
  log.info({ port }, 'tracker graphql api ready');
}

main().catch((err) => {
  log.fatal({ err }, 'failed to start');
  process.exit(1);
});
