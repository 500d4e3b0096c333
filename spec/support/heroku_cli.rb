require "tmpdir"

# Heroku's own CLI (npm `heroku`, which bin/setup installs into
# tmp/heroku-cli when npm can reach its registry), pointed at a local
# formation. It runs with a HOME of its own, so it leaves no state in the
# user's, and with its telemetry, analytics and update check off: nothing
# it does leaves this machine.
#
#   output, status = HerokuCli.run(url, token, "ps:scale", "worker=3", home: dir)
module HerokuCli
  INSTALLED = File.expand_path("../../tmp/heroku-cli/node_modules/.bin/heroku", __dir__)
  APP = "local"
  FIXTURE = File.expand_path("../fixtures/heroku_cli_requests.json", __dir__)

  # What the specs run, in order, and the worker formation each leaves:
  # absolute and relative quantities (the CLI sends "3", "+1", "-1"), a
  # resize, and the reads of `heroku ps`.
  STEPS = [
    { args: %w[ps:scale worker=3], quantity: 3, size: "Standard-1X" },
    { args: %w[ps:scale worker+1], quantity: 4, size: "Standard-1X" },
    { args: %w[ps:type worker=Standard-2X], quantity: 4, size: "Standard-2X" },
    { args: %w[ps], quantity: 4, size: "Standard-2X" },
    { args: %w[ps:scale worker-1], quantity: 3, size: "Standard-2X" },
    { args: %w[ps:scale worker=0], quantity: 0, size: "Standard-2X" }
  ].freeze

  module_function

  # The installed CLI, else one on the PATH; nil when there is neither (or no node).
  def path
    return nil unless on_path("node")

    File.executable?(INSTALLED) ? INSTALLED : on_path("heroku")
  end

  def missing_reason
    "Heroku's CLI is not installed: bin/setup installs it into tmp/heroku-cli (npm heroku@11) " \
      "when npm can reach its registry; or put `heroku` (and node) on the PATH"
  end

  # [output, status] of `heroku ARGS -a local`, within `timeout` seconds.
  def run(url, token, *args, home:, timeout: 60)
    Deadlines.capture_within(env(url, token, home), path, *args, "-a", APP, timeout: timeout)
  end

  def env(url, token, home)
    {
      "HOME" => home, "XDG_CONFIG_HOME" => File.join(home, ".config"), "XDG_CACHE_HOME" => File.join(home, ".cache"),
      "XDG_DATA_HOME" => File.join(home, ".local/share"), "GIT_CONFIG_GLOBAL" => File.join(home, ".gitconfig"),
      "HEROKU_HOST" => url, "HEROKU_API_KEY" => token,
      # The CLI asks another Heroku service (particleboard) beside some calls: here too.
      "HEROKU_PARTICLEBOARD_URL" => url, "HEROKU_ANALYTICS_URL" => url,
      "DISABLE_TELEMETRY" => "true", "HEROKU_SKIP_ANALYTICS" => "1", "HEROKU_SKIP_NEW_VERSION_CHECK" => "true",
      "HEROKU_UPDATE_INSTRUCTIONS" => "(bin/setup installs the CLI)", "NO_PROXY" => "127.0.0.1,localhost",
      "FORCE_COLOR" => "0", "NO_COLOR" => "1", "OCLIF_TABLE_COLUMN_OVERRIDE" => "200",
      "HEROKU_APP" => nil, "HEROKU_ORGANIZATION" => nil, "HEROKU_HEADERS" => nil, "HEROKU_DEBUG" => nil,
      "HEROKU_DEBUG_HEADERS" => nil, "HEROKU_API_TOKEN" => nil, "DEBUG" => nil
    }
  end

  def on_path(program)
    ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, program) }
       .find { |file| File.file?(file) && File.executable?(file) }
  end
end
