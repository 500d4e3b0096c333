# Shared by the benchmarks: the demo's SQLite job table, the local
# formation as Heroku on 127.0.0.1, and booting the gem against it.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__), File.expand_path("../demo", __dir__)
require "tmpdir"
require "database"
require "middle_management/local_formation"

module Bench
  TOKEN = "bench-token-5c2f".freeze
  APP = "bench".freeze

  module_function

  def database
    DemoDatabase.connect(File.join(Dir.mktmpdir("mm-bench"), "jobs.sqlite3"), create: true)
  end

  def heroku(formation = { "worker" => 0 })
    MiddleManagement::LocalFormation::Server.new(app: APP, token: TOKEN, formation: formation).start
  end

  def vars(heroku, extra = {})
    { "HEROKU_APP" => APP, "HEROKU_API_KEY" => TOKEN, "HEROKU_API_URL" => heroku.url,
      "MAX_WORKERS" => 10 }.merge(extra).to_h { |key, value| ["MIDDLE_MANAGEMENT_#{key}", value.to_s] }
  end

  # Boots the gem (already required) from `vars`, as an app would at start.
  def boot(vars)
    MiddleManagement.reset!
    ENV.update(vars)
    MiddleManagement.configuration.logger = Logger.new(nil)
    MiddleManagement.boot
  end

  def median(values) = values.sort[values.size / 2]
  def percentile(values, p) = values.sort[((values.size - 1) * p).round]
end
