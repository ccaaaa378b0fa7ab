import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  BadRequestException,
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import { Repository } from 'typeorm';
import { CreateListingDto, ListListingsQuery, Listing, UpdateListingDto } from './listing.model';

const IMAGE_BUCKET = process.env.LISTING_IMAGE_BUCKET ?? 'shopmarket-listing-images';
const MAX_IMAGES_PER_LISTING = 10;
const MAX_IMAGE_BYTES = 8 * 1024 * 1024;
const IMAGE_EXTENSIONS: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
};
const DEFAULT_PAGE_SIZE = 20;

function escapeLike(term: string): string {
  return term.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

@Injectable()
export class ListingsService {
  private readonly logger = new Logger(ListingsService.name);
  private readonly s3 = new S3Client({});

  constructor(@InjectRepository(Listing) private readonly listings: Repository<Listing>) {}

  async listActive(query: ListListingsQuery): Promise<{ items: Listing[]; nextCursor: string | null }> {
    const take = query.limit ?? DEFAULT_PAGE_SIZE;
    const qb = this.listings
      .createQueryBuilder('listing')
      .where('listing.status = :status', { status: 'active' })
      .orderBy('listing.createdAt', 'DESC')
      .limit(take);
    if (query.q) {
      qb.andWhere('(listing.title ILIKE :q OR listing.description ILIKE :q)', { q: `%${escapeLike(query.q)}%` });
    }
    if (query.category) {
      qb.andWhere('listing.category = :category', { category: query.category });
    }
    if (query.cursor) {
      qb.andWhere('listing.createdAt < :cursor', { cursor: new Date(query.cursor) });
    }
    const items = await qb.getMany();
    const nextCursor = items.length === take ? items[items.length - 1].createdAt.toISOString() : null;
    return { items, nextCursor };
  }

  findVisible(id: string): Promise<Listing | null> {
    return this.listings
      .createQueryBuilder('listing')
      .where('listing.id = :id', { id })
      .andWhere("listing.status IN ('active', 'sold')")
      .getOne();
  }

  async create(sellerId: string, dto: CreateListingDto): Promise<Listing> {
    const listing = this.listings.create({ ...dto, sellerId, status: 'draft', imageKeys: [] });
    return this.listings.save(listing);
  }

  async update(id: string, sellerId: string, dto: UpdateListingDto): Promise<Listing> {
    const listing = await this.owned(id, sellerId);
    if (listing.status === 'sold' || listing.status === 'removed') {
      throw new ConflictException(`listing is ${listing.status}`);
    }
    Object.assign(listing, dto);
    return this.listings.save(listing);
  }

  async publish(id: string, sellerId: string): Promise<Listing> {
    const listing = await this.owned(id, sellerId);
    if (listing.status !== 'draft') throw new ConflictException(`listing is ${listing.status}`);
    if (listing.imageKeys.length === 0) throw new BadRequestException('add at least one image first');
    listing.status = 'active';
    return this.listings.save(listing);
  }

  async importImage(id: string, sellerId: string, sourceUrl: string): Promise<Listing> {
    const listing = await this.owned(id, sellerId);
    if (listing.imageKeys.length >= MAX_IMAGES_PER_LISTING) {
      throw new ConflictException(`a listing can have at most ${MAX_IMAGES_PER_LISTING} images`);
    }
    const ext = extname(new URL(sourceUrl).pathname).toLowerCase();
    const contentType = IMAGE_EXTENSIONS[ext];
    if (!contentType) throw new BadRequestException('only .jpg, .png and .webp images can be imported');

    const res = await fetch(sourceUrl, { redirect: 'follow', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new BadRequestException(`image download failed with HTTP ${res.status}`);
    if (Number(res.headers.get('content-length') ?? 0) > MAX_IMAGE_BYTES) throw new PayloadTooLargeException();
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_IMAGE_BYTES) throw new PayloadTooLargeException();

    const key = `listings/${listing.id}/${randomUUID()}${ext}`;
    await this.s3.send(new PutObjectCommand({ Bucket: IMAGE_BUCKET, Key: key, Body: body, ContentType: contentType }));
    listing.imageKeys = [...listing.imageKeys, key];
    this.logger.log({ listingId: listing.id, key, bytes: body.length }, 'image imported');
    return this.listings.save(listing);
  }

  async remove(id: string, sellerId: string): Promise<void> {
    const listing = await this.owned(id, sellerId);
    if (listing.status === 'sold') throw new ConflictException('sold listings are kept for the order history');
    await this.listings.update({ id: listing.id }, { status: 'removed' });
  }

  private async owned(id: string, sellerId: string): Promise<Listing> {
    const listing = await this.listings.findOneBy({ id, sellerId });
    if (!listing) throw new NotFoundException('listing not found');
    return listing;
  }
}
