# rake middle_management:scale: one decision now, for Heroku Scheduler (apps
# whose web dynos sleep, or that have no web process). Rails loads this
# through the Railtie; elsewhere, `load "middle_management/tasks.rake"` in
# the Rakefile after requiring the app.
namespace :middle_management do
  desc "Decide the worker formation now from a fresh count (for Heroku Scheduler)"
  # Under Rails the app must be loaded first (its :environment task is
  # defined after the railties' tasks, so it is named, not looked up).
  task scale: (defined?(Rails::Railtie) || Rake::Task.task_defined?(:environment) ? [:environment] : []) do
    require "middle_management"
    MiddleManagement.boot
    # Long enough for the app's window to open, should a process have just called.
    timeout = [10, MiddleManagement.configuration.api_throttle + 5].max
    abort "middle_management: no decision within #{timeout.round} s (see the log)" unless MiddleManagement.scale_now(timeout)
  end
end
