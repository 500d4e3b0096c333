module MiddleManagement
  # Under Rails the gem boots once the app's initializers have run, so a
  # `MiddleManagement.configure` block in config/initializers applies, and
  # after every gem is loaded, whatever the Gemfile's order. A web process
  # is recognised by its first request; `rake middle_management:scale`
  # makes one decision.
  class Railtie < Rails::Railtie
    initializer "middle_management.watch" do |app|
      require "middle_management/watch_middleware"
      app.middleware.insert_before(0, MiddleManagement::WatchMiddleware) # first: any request says "web server"
    end

    config.after_initialize do
      MiddleManagement.configuration.logger ||= Rails.logger
      MiddleManagement.boot
    end

    rake_tasks { load "middle_management/tasks.rake" }
  end
end
