class ExpenseNote < ApplicationRecord
  STATUSES = %w[draft submitted approved reimbursed rejected].freeze
  CURRENCIES = %w[JPY USD EUR].freeze
  CATEGORIES = %w[travel meals lodging supplies software other].freeze

  belongs_to :organization
  belongs_to :user
  belongs_to :approved_by, class_name: "User", optional: true

  has_one_attached :receipt

  enum :status, STATUSES.index_with(&:itself), default: "draft", validate: true

  validates :merchant, presence: true, length: { maximum: 200 }
  validates :amount_cents, numericality: { only_integer: true, greater_than: 0, less_than_or_equal_to: 5_000_000_00 }
  validates :currency, inclusion: { in: CURRENCIES }
  validates :category, inclusion: { in: CATEGORIES }
  validates :spent_on, presence: true
  validates :description, length: { maximum: 2_000 }
  validates :receipt_number, uniqueness: { scope: :organization_id }, allow_blank: true
  validate :spent_on_not_in_future

  # after_commit, not after_save: the job must not run before the approval is visible to it.
  after_update_commit :enqueue_reimbursement, if: -> { saved_change_to_status?(to: "approved") }

  def as_api_json
    {
      id: id,
      status: status,
      merchant: merchant,
      amount_cents: amount_cents,
      currency: currency,
      category: category,
      spent_on: spent_on.iso8601,
      description: description,
      receipt_number: receipt_number,
      policy_version: policy_version,
      submitted_by: { id: user.id, name: user.name },
      approved_by: approved_by && { id: approved_by.id, name: approved_by.name },
      approved_at: approved_at&.iso8601,
      reimbursed_at: reimbursed_at&.iso8601,
      created_at: created_at.iso8601
    }
  end

  private

  def spent_on_not_in_future
    errors.add(:spent_on, "can't be in the future") if spent_on && spent_on > Date.current
  end

  def enqueue_reimbursement
    ReimburseExpenseNoteJob.perform_async(id)
  end
end
