# The app of spec/good_job_spec.rb, as a Rails app on GoodJob runs on
# Heroku: Active Job with `queue_adapter = :good_job`, PostgreSQL from
# DATABASE_URL, and the gem in its Gemfile (booted by its Railtie). Real
# GoodJob where it can be had, else the stand-in beside this directory
# (GOOD_JOB_APP_LIBRARY, set by spec/support/good_job_app.rb).
$stdout.sync = true
require "logger"
require "rails"
require "active_record/railtie"
require "active_job/railtie"
if ENV["GOOD_JOB_APP_LIBRARY"] == "good_job"
  require "good_job" # from GOOD_JOB_LIB (on RUBYLIB) or the installed gem
else
  require_relative "../stand_in"
end
require "middle_management"

class GoodJobApp < Rails::Application
  config.root = File.expand_path("..", __dir__)
  config.eager_load = false
  config.logger = Logger.new($stdout, level: Logger::WARN)
  config.log_level = :warn
  config.secret_key_base = "good-job-spec"
  config.active_job.queue_adapter = :good_job
  config.active_record.legacy_connection_handling = false if config.active_record.respond_to?(:legacy_connection_handling=)
  if defined?(GoodJob::Engine)
    config.good_job.execution_mode = :external
    config.good_job.poll_interval = 1
    config.good_job.shutdown_timeout = 25
  end
end
Rails.application.initialize!

# The jobs of the spec that runs the app (a file it writes), in every process.
require ENV["GOOD_JOB_APP_JOBS"] if ENV["GOOD_JOB_APP_JOBS"]
