import {
  Body,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  Version,
} from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import { CurrentUser, Public, SessionUser } from '../guards';
import { CreateListingDto, ImportImageDto, ListListingsQuery, Listing, UpdateListingDto } from './listing.model';
import { ListingsService } from './listings.service';

const IMAGE_CDN = process.env.IMAGE_CDN_URL ?? 'https://img.shopmarket.jp';

// v1 response shape: mobile app <= 5.3, released before X-Api-Version existed
function toV1(listing: Listing) {
  return {
    id: listing.id,
    title: listing.title,
    description: listing.description,
    price: listing.priceYen,
    condition: listing.condition,
    status: listing.status,
    images: listing.imageKeys.map((key) => `${IMAGE_CDN}/${key}`),
    createdAt: listing.createdAt.toISOString(),
  };
}

function toV2(listing: Listing) {
  return {
    id: listing.id,
    sellerId: listing.sellerId,
    title: listing.title,
    description: listing.description,
    category: listing.category,
    price: { amount: listing.priceYen, currency: 'JPY' },
    condition: listing.condition,
    status: listing.status,
    images: listing.imageKeys.map((key) => ({ url: `${IMAGE_CDN}/${key}` })),
    createdAt: listing.createdAt.toISOString(),
    updatedAt: listing.updatedAt.toISOString(),
  };
}

// search result card, unchanged since v1
function toCard(listing: Listing) {
  return {
    id: listing.id,
    title: listing.title,
    priceYen: listing.priceYen,
    condition: listing.condition,
    thumbnail: listing.imageKeys.length > 0 ? `${IMAGE_CDN}/${listing.imageKeys[0]}` : null,
    createdAt: listing.createdAt.toISOString(),
  };
}

function requireSeller(user: SessionUser): string {
  if (!user.sellerId) throw new ForbiddenException('a seller account is required');
  return user.sellerId;
}

@Controller('listings')
export class ListingsController {
  constructor(private readonly listings: ListingsService) {}

  @Public()
  @Get()
  async list(@Query() query: ListListingsQuery) {
    const page = await this.listings.listActive(query);
    return { items: page.items.map(toCard), nextCursor: page.nextCursor };
  }

  @Public()
  @Version('1')
  @Get(':id')
  async findOneV1(@Param('id', ParseUUIDPipe) id: string) {
    const listing = await this.listings.findVisible(id);
    return listing && toV1(listing);
  }

  @Public()
  @Version('2')
  @Get(':id')
  async findOne(@Param('id', ParseUUIDPipe) id: string) {
    const listing = await this.listings.findVisible(id);
    return listing && toV2(listing);
  }

  @Post()
  @Throttle({ default: { limit: 20, ttl: 3_600_000 } })
  async create(@CurrentUser() user: SessionUser, @Body() dto: CreateListingDto) {
    return toV2(await this.listings.create(requireSeller(user), dto));
  }

  @Patch(':id')
  async update(
    @CurrentUser() user: SessionUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateListingDto,
  ) {
    return toV2(await this.listings.update(id, requireSeller(user), dto));
  }

  @Post(':id/publish')
  @HttpCode(200)
  async publish(@CurrentUser() user: SessionUser, @Param('id', ParseUUIDPipe) id: string) {
    return toV2(await this.listings.publish(id, requireSeller(user)));
  }

  @Post(':id/images/import')
  @Throttle({ default: { limit: 30, ttl: 3_600_000 } })
  async importImage(
    @CurrentUser() user: SessionUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: ImportImageDto,
  ) {
    return toV2(await this.listings.importImage(id, requireSeller(user), dto.url));
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentUser() user: SessionUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.listings.remove(id, requireSeller(user));
  }
}
