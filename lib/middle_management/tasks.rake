# rake middle_management:scale: one decision now, for Heroku Scheduler (apps
# whose web dynos sleep, or that have no web process). Rails loads this
# through the Railtie; elsewhere, `load "middle_management/tasks.rake"` in
# the Rakefile after requiring the app.
namespace :middle_management do
  desc "Decide the worker formation now from a fresh count (for Heroku Scheduler)"
  task scale: (Rake::Task.task_defined?(:environment) ? [:environment] : []) do
    require "middle_management"
    MiddleManagement.boot
    abort "middle_management: no decision within 10 s (see the log)" unless MiddleManagement.scale_now(10)
  end
end
