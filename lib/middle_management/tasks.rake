# The gem's rake tasks. Rails loads this through the Railtie; elsewhere,
# `load "middle_management/tasks.rake"` in the Rakefile after requiring the app.
namespace :middle_management do
  # Under Rails the app must be loaded first (its :environment task is
  # defined after the railties' tasks, so it is named, not looked up).
  app = defined?(Rails::Railtie) || Rake::Task.task_defined?(:environment) ? [:environment] : []

  # For Heroku Scheduler: apps whose web dynos sleep, or that have no web process.
  desc "Decide the worker formation now from a fresh count (for Heroku Scheduler)"
  task scale: app do
    require "middle_management"
    MiddleManagement.boot
    # Long enough for the app's window to open, should a process have just called.
    timeout = [10, MiddleManagement.configuration.api_throttle + 5].max
    abort "middle_management: no decision within #{timeout.round} s (see the log)" unless MiddleManagement.scale_now(timeout)
  end

  desc "Recommend settings from the app's own traffic: each pool's last day (DAYS=n, POOL=name) replayed " \
       "through the simulator"
  task tune: app do
    require "middle_management"
    require "middle_management/tuning"
    agent = MiddleManagement.boot
    days = MiddleManagement::Tuning.days(ENV.fetch("DAYS", MiddleManagement::Tuning::DAYS), "DAYS")
    now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    results = MiddleManagement::Tuning.app(MiddleManagement.configuration, agent.store, now_ms: now_ms, days: days,
                                                                                       pool: ENV["POOL"])
    puts MiddleManagement::Tuning.report(results)
    exit 1 unless results.all? { |_pool, result| result.is_a?(MiddleManagement::Tuning::Recommendation) }
  rescue MiddleManagement::Tuning::Error => e
    abort "middle_management: #{e.message}"
  end
end
