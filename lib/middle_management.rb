require "middle_management/version"
require "middle_management/errors"
require "middle_management/internal/native"
require "middle_management/configuration"
require "middle_management/runtime/agent"
require "middle_management/backends"
require "middle_management/slacker"

# Hires and fires Heroku worker dynos as the job queue grows and shrinks.
#
# Requiring the gem reads MIDDLE_MANAGEMENT_* from ENV (raising
# ConfigurationError for a bad value) and hooks the job libraries already
# loaded; under Rails a Railtie does both during initialisation instead.
module MiddleManagement
  # The page (a Rack app), loaded only by an app that mounts it.
  autoload :Web, "middle_management/web"

  if Internal::Native.crate_version != VERSION
    raise Error, "the compiled extension is version #{Internal::Native.crate_version}, the gem #{VERSION}: " \
                 "recompile it (rake compile)"
  end

  class << self
    # The configuration in force: ENV, then any `configure` block.
    def configuration
      @configuration ||= Configuration.from_env
    end

    #   MiddleManagement.configure do |c|
    #     c.max_workers = 5
    #     c.pool "urgent_worker", queues: %w[mailers], max: 2, jobs_per_worker: 1
    #   end
    def configure
      config = configuration
      yield config
      config.validate!
      restart
      config
    end

    # The agent of this process, or nil before `boot`.
    attr_reader :agent

    # Checks the configuration and hooks every job library that is loaded.
    # Called on require in a plain app, by the Railtie under Rails; call it
    # again after loading a job library later.
    def boot
      configuration.validate!
      @agent ||= Runtime::Agent.new(configuration, logger: configuration.logger)
      Backends.available.each { |backend| backend.install(@agent) }
      register_at_exit
      @agent
    end

    # Decides and sends what is pending now, waiting up to `timeout` seconds
    # (for tests and scripts).
    def flush(timeout = 5.0)
      agent ? agent.flush(timeout) : true
    end

    # Says "this process is long-running": it decides at once and then looks
    # at the queue every COUNT_INTERVAL, so work scheduled by processes that
    # have gone is still served. Job workers and Rails web servers call it
    # by themselves.
    def watch
      agent&.watch
    end

    # One decision for every pool now, waiting up to `timeout` seconds
    # (`rake middle_management:scale`, for Heroku Scheduler).
    def scale_now(timeout = 10.0)
      agent ? agent.decide_now(timeout) : false
    end

    # Whether this worker should take no new job: its dyno is numbered
    # above what the work needs (the job libraries' fetch loops ask).
    def draining?(fresh: false)
      agent ? agent.draining?(fresh: fresh) : false
    end

    # What the dispatcher knows: per pool desired and known quantities,
    # counts, busy and draining dynos, calls, errors, and Heroku's last
    # RateLimit-Remaining. `exact: true` counts every runnable job now
    # (decisions count only up to their cap, and status says `capped: true`).
    def status(exact: false)
      agent ? agent.status(exact: exact) : { enabled: false, disabled_reason: "not booted", pools: [] }
    end

    # The app's scaling history for one pool (the default pool unless
    # named) since `since` (a Time, or ms since the epoch; an hour ago
    # unless given), oldest first: Store::HistoryEntry values whose `kind`
    # is :sample, :change, :error or :confirmed. `kinds`: only those.
    #   MiddleManagement.history(pool: "worker", since: 1.day.ago, kinds: [:change])
    def history(pool: nil, since: nil, kinds: nil)
      return [] unless agent

      since ||= Time.now - 3_600
      agent.history.read(agent.store, pool: pool || configuration.process_type, since: since, kinds: kinds)
    end

    # Forgets the configuration and agent (tests; a new ENV).
    def reset!
      @agent&.stop
      @agent = nil
      @configuration = nil
    end

    private

    def restart
      return unless @agent

      @agent.stop
      @agent = nil
      boot
    end

    def register_at_exit
      return if @at_exit_registered

      @at_exit_registered = true
      at_exit { MiddleManagement.agent&.at_exit_flush }
    end
  end
end

if defined?(Rails::Railtie)
  require "middle_management/railtie"
else
  MiddleManagement.boot
end
