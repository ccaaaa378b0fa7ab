import { Type } from 'class-transformer';
import {
  IsEnum,
  IsISO8601,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export enum ListingCondition {
  New = 'new',
  LikeNew = 'like_new',
  Good = 'good',
  Fair = 'fair',
}

export type ListingStatus = 'draft' | 'active' | 'sold' | 'removed';

@Entity('listings')
@Index(['status', 'createdAt'])
export class Listing {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index() @Column('uuid') sellerId!: string;
  @Column({ length: 120 }) title!: string;
  @Column('text') description!: string;
  @Column({ length: 40 }) category!: string;
  @Column('integer') priceYen!: number;
  @Column({ type: 'enum', enum: ListingCondition }) condition!: ListingCondition;
  @Column({ length: 12, default: 'draft' }) status!: ListingStatus;
  @Column('text', { array: true, default: '{}' }) imageKeys!: string[];
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updatedAt!: Date;
}

@Entity('sellers')
export class Seller {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') userId!: string;
  @Column({ length: 80 }) displayName!: string;
  @Column({ type: 'varchar', length: 64, nullable: true }) payoutAccountId!: string | null;
  @Column({ type: 'timestamptz', nullable: true }) payoutConnectedAt!: Date | null;
}

export class CreateListingDto {
  @IsString() @Length(3, 120) title!: string;
  @IsString() @MaxLength(5000) description!: string;
  @IsString() @Length(2, 40) category!: string;
  @Type(() => Number) @IsInt() @Min(100) @Max(10_000_000) priceYen!: number;
  @IsEnum(ListingCondition) condition!: ListingCondition;
}

export class UpdateListingDto {
  @IsOptional() @IsString() @Length(3, 120) title?: string;
  @IsOptional() @IsString() @MaxLength(5000) description?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(10_000_000) priceYen?: number;
  @IsOptional() @IsEnum(ListingCondition) condition?: ListingCondition;
}

export class ListListingsQuery {
  @IsOptional() @IsString() @MaxLength(100) q?: string;
  @IsOptional() @IsString() @Length(2, 40) category?: string;
  @IsOptional() @IsISO8601() cursor?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(50) limit?: number;
}

export class ImportImageDto {
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true }) url!: string;
}
