class AddApprovalFieldsToExpenseNotes < ActiveRecord::Migration[7.1]
  def change
    add_column :expense_notes, :receipt_number, :string
    add_column :expense_notes, :approved_by_id, :bigint
    add_column :expense_notes, :approved_at, :datetime
    add_column :expense_notes, :reimbursed_at, :datetime
    add_column :expense_notes, :payout_reference, :string
    add_column :expense_notes, :policy_version, :integer, null: false, default: 1

    add_index :expense_notes, [:organization_id, :receipt_number]
    add_index :expense_notes, [:organization_id, :status, :spent_on]
  end
end
