import { Controller, Get, Module, ValidationPipe, VersioningType, VERSION_NEUTRAL } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { NestExpressApplication } from '@nestjs/platform-express';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import cookieParser from 'cookie-parser';
import type { Request } from 'express';
import helmet from 'helmet';
import { LoggerModule } from 'nestjs-pino';
import { ClientIpThrottlerGuard, Public, SessionGuard } from './guards';
import { ListingsController } from './listings/listings.controller';
import { Listing, Seller } from './listings/listing.model';
import { ListingsService } from './listings/listings.service';
import { PayoutsController } from './payouts/payouts.controller';

export const LATEST_API_VERSION = '2';

@Controller({ path: 'healthz', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(private readonly dataSource: DataSource) {}

  @Public()
  @Get()
  async check() {
    await this.dataSource.query('SELECT 1');
    return { status: 'ok' };
  }
}

@Module({
  imports: [
    LoggerModule.forRoot({ pinoHttp: { redact: ['req.headers.cookie', 'req.headers.authorization'] } }),
    JwtModule.register({ secret: process.env.SESSION_JWT_SECRET, signOptions: { expiresIn: '12h' } }),
    ThrottlerModule.forRoot([{ name: 'default', ttl: 60_000, limit: 120 }]),
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      entities: [Listing, Seller],
      synchronize: false,
      extra: { max: 20, statement_timeout: 5_000 },
    }),
    TypeOrmModule.forFeature([Listing, Seller]),
  ],
  controllers: [HealthController, ListingsController, PayoutsController],
  providers: [
    ListingsService,
    { provide: APP_GUARD, useClass: ClientIpThrottlerGuard },
    { provide: APP_GUARD, useClass: SessionGuard },
  ],
})
export class AppModule {}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { bufferLogs: true });
  app.set('trust proxy', 1); // exactly one ALB in front of the service
  app.use(helmet());
  app.use(cookieParser());
  app.enableVersioning({
    type: VersioningType.CUSTOM,
    extractor: (req) => (req as Request).header('x-api-version') ?? LATEST_API_VERSION,
  });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000));
}

void bootstrap();
