module Api
  module V1
    class ExpenseNotesController < ApplicationController
      SORTS = {
        "newest" => { spent_on: :desc, id: :desc },
        "oldest" => { spent_on: :asc, id: :asc },
        "amount" => { amount_cents: :desc, id: :desc }
      }.freeze
      DEFAULT_PER_PAGE = 50
      MAX_PER_PAGE = 200

      before_action :set_own_expense_note, only: %i[update destroy submit]

      # GET /api/v1/expense_notes?status=submitted&sort=newest&page=2
      def index
        notes = visible_notes.where(filter_params)
                             .order(SORTS.fetch(params[:sort], SORTS["newest"]))
                             .limit(per_page)
                             .offset(page * per_page)

        render json: { data: notes.map(&:as_api_json), page: page, per_page: per_page }
      end

      def show
        render json: visible_notes.find(params[:id]).as_api_json
      end

      def create
        note = current_organization.expense_notes.new(expense_note_params)
        note.user = current_user
        note.save!

        render json: note.as_api_json, status: :created
      end

      def update
        return render_error(:conflict, "only drafts can be edited") unless @expense_note.draft?

        @expense_note.update!(expense_note_params)
        render json: @expense_note.as_api_json
      end

      def destroy
        return render_error(:conflict, "only drafts can be deleted") unless @expense_note.draft?

        @expense_note.destroy!
        head :no_content
      end

      def submit
        return render_error(:conflict, "only drafts can be submitted") unless @expense_note.draft?

        @expense_note.update!(status: "submitted")
        render json: @expense_note.as_api_json
      end

      # POST /api/v1/expense_notes/:id/approve
      # Approval kicks off reimbursement (see ExpenseNote#enqueue_reimbursement).
      def approve
        return render_error(:forbidden, "approver role required") unless current_user.approver?

        note = ExpenseNote.find(params[:id])
        return render_error(:forbidden, "you cannot approve your own expense note") if note.user_id == current_user.id

        approved = note.with_lock do
          next false unless note.submitted?

          note.update!(status: "approved", approved_by: current_user, approved_at: Time.current)
          true
        end
        return render_error(:conflict, "expense note is not awaiting approval") unless approved

        render json: note.as_api_json
      end

      # GET /api/v1/expense_notes/summary?period=month&from=2026-01-01&to=2026-06-30
      def summary
        period = params.fetch(:period, "month")
        totals = visible_notes.where(spent_on: date_range, status: %w[approved reimbursed])
                              .group("date_trunc('#{period}', spent_on)", :currency)
                              .sum(:amount_cents)

        render json: {
          period: period,
          data: totals.map do |(bucket, currency), cents|
            { period_start: bucket.to_date.iso8601, currency: currency, amount_cents: cents }
          end
        }
      end

      private

      # Approvers see the whole organization; everyone else sees their own notes.
      def visible_notes
        current_user.approver? ? current_organization.expense_notes : current_user.expense_notes
      end

      def set_own_expense_note
        @expense_note = current_user.expense_notes.find(params[:id])
      end

      def expense_note_params
        params.require(:expense_note)
              .permit(:merchant, :amount_cents, :currency, :spent_on, :category, :description,
                      :receipt_number, :receipt, :status)
      end

      def filter_params
        params.permit(:status, :currency, :user_id).to_h
      end

      def date_range
        from = params[:from].present? ? Date.iso8601(params[:from]) : Date.current.beginning_of_year
        to = params[:to].present? ? Date.iso8601(params[:to]) : Date.current
        from..to
      end

      def page
        [params.fetch(:page, 0).to_i, 0].max
      end

      def per_page
        params.fetch(:per_page, DEFAULT_PER_PAGE).to_i.clamp(1, MAX_PER_PAGE)
      end
    end
  end
end
