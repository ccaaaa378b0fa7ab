require "faraday"

# Thin client for the payout provider's REST API (https://docs.payouts.example/v1).
class PayoutGateway
  class Error < StandardError; end

  BASE_URL = ENV.fetch("PAYOUT_API_URL", "https://api.payouts.example")

  def initialize(account_id:, api_key: Rails.application.credentials.payout_api_key!)
    @account_id = account_id
    @conn = Faraday.new(url: BASE_URL) do |f|
      f.request :authorization, "Bearer", api_key
      f.request :json
      f.response :json
      f.options.open_timeout = 3
      f.options.timeout = 15
    end
  end

  def create_transfer(amount_cents:, currency:, destination:, memo:)
    response = @conn.post("/v1/accounts/#{@account_id}/transfers", {
      amount: amount_cents,
      currency: currency.downcase,
      destination: destination,
      description: memo
    })
    raise Error, "transfer failed: HTTP #{response.status} #{response.body}" unless response.success?

    response.body
  end
end
