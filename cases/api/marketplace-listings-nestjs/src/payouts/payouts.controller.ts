import {
  BadGatewayException,
  BadRequestException,
  Controller,
  ForbiddenException,
  Get,
  Logger,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { CookieOptions, Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { Repository } from 'typeorm';
import { Seller } from '../listings/listing.model';
import { CurrentUser, SessionUser } from '../guards';

const CONNECT_BASE_URL = process.env.PAYOUTHUB_CONNECT_URL ?? 'https://connect.payouthub.example';
const CLIENT_ID = process.env.PAYOUTHUB_CLIENT_ID ?? '';
const CLIENT_SECRET = process.env.PAYOUTHUB_CLIENT_SECRET ?? '';
const REDIRECT_URI = process.env.PAYOUTHUB_REDIRECT_URI ?? 'https://api.shopmarket.jp/payouts/callback';
const DEFAULT_RETURN_PATH = 'https://www.shopmarket.jp/seller/payouts';
const STATE_COOKIE = 'payout_oauth_state';
const RETURN_COOKIE = 'payout_return_to';
const FLOW_COOKIE: CookieOptions = {
  httpOnly: true,
  secure: true,
  sameSite: 'lax',
  path: '/payouts',
  maxAge: 10 * 60 * 1000,
};

interface PayoutTokenResponse {
  connected_account_id: string;
  scope: string;
  livemode: boolean;
}

@Controller('payouts')
export class PayoutsController {
  private readonly logger = new Logger(PayoutsController.name);

  constructor(@InjectRepository(Seller) private readonly sellers: Repository<Seller>) {}

  @Get('status')
  async status(@CurrentUser() user: SessionUser) {
    const seller = await this.sellers.findOneByOrFail({ id: this.sellerId(user) });
    return {
      connected: seller.payoutAccountId !== null,
      connectedAt: seller.payoutConnectedAt?.toISOString() ?? null,
    };
  }

  @Get('connect')
  connect(@CurrentUser() user: SessionUser, @Query('returnTo') returnTo: string | undefined, @Res() res: Response) {
    this.sellerId(user);
    const state = randomBytes(24).toString('base64url');
    res.cookie(STATE_COOKIE, state, FLOW_COOKIE);
    res.cookie(RETURN_COOKIE, returnTo || DEFAULT_RETURN_PATH, FLOW_COOKIE);

    const authorizeUrl = new URL('/oauth/authorize', CONNECT_BASE_URL);
    authorizeUrl.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'payouts:write',
      state,
    }).toString();
    res.redirect(authorizeUrl.toString());
  }

  @Get('callback')
  async callback(
    @CurrentUser() user: SessionUser,
    @Query('code') code: string | undefined,
    @Query('state') state: string | undefined,
    @Query('error') error: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    const sellerId = this.sellerId(user);
    const expectedState: string | undefined = req.cookies?.[STATE_COOKIE];
    const returnTo: string = req.cookies?.[RETURN_COOKIE] ?? DEFAULT_RETURN_PATH;
    res.clearCookie(STATE_COOKIE, { path: FLOW_COOKIE.path });
    res.clearCookie(RETURN_COOKIE, { path: FLOW_COOKIE.path });

    if (error) {
      return res.redirect(`${returnTo}?payouts=${encodeURIComponent(error)}`);
    }
    if (!code || !state || !expectedState) {
      throw new BadRequestException('invalid authorization callback');
    }

    const token = await this.exchangeCode(code);
    await this.sellers.update(
      { id: sellerId },
      { payoutAccountId: token.connected_account_id, payoutConnectedAt: new Date() },
    );
    this.logger.log({ sellerId, account: token.connected_account_id }, 'payout account connected');
    return res.redirect(`${returnTo}?payouts=connected`);
  }

  private sellerId(user: SessionUser): string {
    if (!user.sellerId) throw new ForbiddenException('a seller account is required');
    return user.sellerId;
  }

  private async exchangeCode(code: string): Promise<PayoutTokenResponse> {
    const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
    const res = await fetch(new URL('/oauth/token', CONNECT_BASE_URL), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }),
      signal: AbortSignal.timeout(8_000),
    });
    if (!res.ok) {
      this.logger.warn({ status: res.status }, 'authorization code exchange failed');
      throw new BadGatewayException('payout provider rejected the authorization code');
    }
    return (await res.json()) as PayoutTokenResponse;
  }
}
