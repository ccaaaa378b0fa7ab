Rails.application.routes.draw do
  namespace :api do
    namespace :v1 do
      resources :expense_notes, only: %i[index show create update destroy] do
        collection do
          get :summary
        end
        member do
          post :submit
          post :approve
        end
      end
    end
  end

  get "up" => "rails/health#show", as: :rails_health_check
end
