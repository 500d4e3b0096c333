module MiddleManagement
  # Under Rails the gem boots once the app's initializers have run, so a
  # `MiddleManagement.configure` block in config/initializers applies, and
  # after every gem is loaded, whatever the Gemfile's order.
  class Railtie < Rails::Railtie
    config.after_initialize do
      MiddleManagement.configuration.logger ||= Rails.logger
      MiddleManagement.boot
    end
  end
end
