class ReimburseExpenseNoteJob
  include Sidekiq::Job

  sidekiq_options queue: "payouts", retry: 8

  def perform(expense_note_id)
    note = ExpenseNote.includes(:organization, :user).find(expense_note_id)
    return unless note.approved?

    transfer = PayoutGateway.new(account_id: note.organization.payout_account_id).create_transfer(
      amount_cents: note.amount_cents,
      currency: note.currency,
      destination: note.user.payout_destination_token,
      memo: "Expense note ##{note.id} (#{note.merchant})"
    )

    note.update!(status: "reimbursed", reimbursed_at: Time.current, payout_reference: transfer.fetch("id"))
    ExpenseNoteMailer.with(expense_note: note).reimbursed.deliver_later
  end
end
