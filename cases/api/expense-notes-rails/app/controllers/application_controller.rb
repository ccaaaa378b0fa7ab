class ApplicationController < ActionController::API
  include ActionController::HttpAuthentication::Token::ControllerMethods

  before_action :authenticate!

  rescue_from ActiveRecord::RecordNotFound do
    render_error(:not_found, "not found")
  end

  rescue_from ActiveRecord::RecordInvalid do |e|
    render json: { errors: e.record.errors.to_hash(true) }, status: :unprocessable_entity
  end

  rescue_from ActionController::ParameterMissing, Date::Error do |e|
    render_error(:bad_request, e.message)
  end

  private

  attr_reader :current_user

  def current_organization
    current_user.organization
  end

  # Tokens are sent as "Authorization: Bearer <token>"; see ApiToken.issue!
  def authenticate!
    @current_user = authenticate_with_http_token do |token, _options|
      ApiToken.active.includes(:user).find_by(token_digest: ApiToken.digest(token))&.user
    end
    render_error(:unauthorized, "invalid or missing API token") unless @current_user
  end

  def render_error(status, message)
    render json: { error: message }, status: status
  end
end
