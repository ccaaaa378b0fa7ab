require "digest"

class ApiToken < ApplicationRecord
  belongs_to :user

  validates :name, presence: true, length: { maximum: 100 }
  validates :token_digest, presence: true, uniqueness: true

  scope :active, -> { where(revoked_at: nil).where("expires_at > ?", Time.current) }

  # Returns the plaintext token. It is shown to the user once; we only keep the digest.
  def self.issue!(user:, name:, ttl: 90.days)
    plaintext = SecureRandom.base58(40)
    create!(user: user, name: name, token_digest: digest(plaintext), expires_at: ttl.from_now)
    plaintext
  end

  def self.digest(plaintext)
    Digest::SHA256.hexdigest(plaintext)
  end

  def revoke!
    update!(revoked_at: Time.current)
  end
end
